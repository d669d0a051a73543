"""The admin console in a real browser: headless Chromium (Debian's package) driven by
selenium against a real `aigw serve` in front of the mock upstream. Sign in, create a key and
see it listed, use it and see the request and the usage, revoke it and see it refused, sign
out. Screenshots of every page go to test-artifacts/ui/."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_accounts import ADMIN_KEY
from tests.helpers_console import ARTIFACTS, chromium, console_config, serve, threaded_mock

WAIT = 30.0  # a loaded machine: generous, the test itself takes a few seconds


def chat(url: str, key: str, text: str) -> tuple[int, dict[str, Any]]:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": text}]}
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def browser() -> Any:
    d = chromium()
    d.set_page_load_timeout(WAIT)
    yield d
    d.quit()


def test_console_end_to_end(browser: Any, tmp_path: Path) -> None:
    try:
        run_console_flow(browser, tmp_path)
    except Exception:
        # What the page showed when it failed: kept beside the screenshots.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "failure.png"))
        (ARTIFACTS / "failure.html").write_text(browser.page_source)
        raise


def run_console_flow(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    d = browser
    # A page re-renders after a change: an element found a moment ago may be replaced.
    wait = WebDriverWait(d, WAIT, ignored_exceptions=(StaleElementReferenceException,))

    def page(name: str) -> None:
        """Open a console page and wait until its data is on screen."""
        d.get(f"{base}/ui/#/{name}")
        wait.until(
            lambda _: (
                d.find_element(By.ID, "page").get_attribute("data-page") == name.split("?")[0]
                and d.find_element(By.ID, "page").get_attribute("data-state") == "ready"
            )
        )

    def shot(name: str) -> None:
        d.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    cfg = console_config("", logging={"level": "warning", "log_prompts": True})
    with threaded_mock() as mock:
        cfg["providers"]["mock"]["base_url"] = mock.url
        with serve(cfg, tmp_path) as gw:
            base = gw.url
            # No session: the console sends the browser to the sign-in page.
            d.get(base + "/ui/")
            wait.until(ec.url_to_be(base + "/ui/login"))
            shot("01-sign-in")
            # A wrong key is refused on the page (and audited).
            d.find_element(By.ID, "key").send_keys("not-the-admin-key")
            d.find_element(By.ID, "submit").click()
            err = wait.until(ec.visibility_of_element_located((By.ID, "error")))
            assert "admin key" in err.text
            key_input = d.find_element(By.ID, "key")
            key_input.clear()
            key_input.send_keys(ADMIN_KEY)
            d.find_element(By.ID, "submit").click()
            wait.until(ec.url_to_be(base + "/ui/"))
            wait.until(lambda _: "admin_key:admin" in d.find_element(By.ID, "who").text)
            # Nothing secret in the page or its URL: the admin key appears nowhere.
            assert ADMIN_KEY not in d.page_source and ADMIN_KEY not in d.current_url
            cookie = d.get_cookie("aigw_session")
            assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

            # Before any traffic: pages say so instead of showing empty tables.
            page("requests")
            assert "No requests yet" in d.find_element(By.ID, "page").text
            page("keys")
            assert "No API keys yet" in d.find_element(By.ID, "page").text
            shot("09-empty-keys")

            # Create a key with the form; it is shown once and listed.
            d.find_element(By.ID, "new-key").click()
            d.find_element(By.ID, "k-org").send_keys("acme")
            d.find_element(By.ID, "k-user").send_keys("alice")
            d.find_element(By.ID, "k-name").send_keys("browser-test")
            d.find_element(By.ID, "k-rpm").send_keys("600")
            d.find_element(By.ID, "k-usd-month").send_keys("25")
            shot("10-new-key-form")
            d.find_element(By.ID, "k-create").click()
            key = wait.until(ec.visibility_of_element_located((By.ID, "new-key-value"))).text
            assert key.startswith("aigw_")
            row = wait.until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "#keys-table tr[data-key-id]"))
            )
            key_id = row.get_attribute("data-key-id")
            assert row.get_attribute("data-status") == "active"
            assert "acme" in row.text and "alice" in row.text and "browser-test" in row.text
            shot("03-keys-created")

            # A request with the new key, seen on the requests page (prompt and answer too,
            # log_prompts being on) and in the usage totals.
            for text in ("hello from the browser test", "hello from the browser test", "why?"):
                status, answer = chat(base, key, text)
                assert status == 200, answer
            page("requests")
            req_row = wait.until(
                ec.presence_of_element_located(
                    (By.CSS_SELECTOR, f"#requests-table tr[data-key-id='{key_id}']")
                )
            )
            assert "gpt-test" in req_row.text and "200" in req_row.text and "acme" in req_row.text
            req_row.click()
            detail = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "tr.detail")))
            assert "user: why?" in detail.text  # the newest request first
            shot("05-requests")

            page("usage")
            requests_stat = d.find_element(By.CSS_SELECTOR, "[data-stat=u-requests] .value")
            assert requests_stat.text == "3"
            # The same question twice: the second answer came from the cache.
            assert (
                "1 served from cache"
                in d.find_element(By.CSS_SELECTOR, "[data-stat=u-requests]").text
            )
            assert "acme" in d.find_element(By.ID, "by-org").text
            assert "gpt-test" in d.find_element(By.ID, "by-model").text
            shot("04-usage")

            page("overview")
            assert d.find_element(By.CSS_SELECTOR, "[data-stat=requests] .value").text == "3"
            shot("02-overview")

            page("deployments")
            dep = d.find_element(By.CSS_SELECTOR, "tr[data-deployment='mock/upstream-model']")
            assert "healthy" in dep.text
            shot("06-deployments")

            # The filter by org, and the key shown only once: not on the next visit.
            page("keys?org=globex")
            assert "No keys for globex" in d.find_element(By.ID, "page").text
            # Revoke (two clicks: the button asks to confirm); the next request is refused.
            page("keys")
            assert not d.find_elements(By.ID, "new-secret") and key not in d.page_source
            revoke = d.find_element(
                By.CSS_SELECTOR, f"tr[data-key-id='{key_id}'] button[data-action=revoke]"
            )
            revoke.click()
            revoke.click()
            wait.until(
                lambda _: (
                    d.find_element(By.CSS_SELECTOR, f"tr[data-key-id='{key_id}']").get_attribute(
                        "data-status"
                    )
                    == "revoked"
                )
            )
            shot("08-keys-revoked")
            status, answer = chat(base, key, "after revocation")
            assert status == 401 and answer["error"]["code"] == "key_revoked", answer

            page("audit")
            actions = {
                r.get_attribute("data-action")
                for r in d.find_elements(By.CSS_SELECTOR, "#audit-table tr[data-action]")
            }
            assert {"console.login_failed", "console.login", "keys.create", "keys.revoke"} <= (
                actions
            )
            shot("07-audit")

            # Sign out: back to the sign-in page, and the console is closed again.
            d.find_element(By.ID, "signout").click()
            wait.until(ec.url_to_be(base + "/ui/login"))
            d.get(base + "/ui/")
            wait.until(ec.url_to_be(base + "/ui/login"))
            assert d.get_cookie("aigw_session") is None
