"""Hypothesis against the running server: the console's POST endpoints (sign-in, sign-out,
and the admin API's changes reached with the session cookie and its CSRF token) answer
every body, content type and header with a 4xx/2xx in the error shape, never a 5xx or a
traceback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers_accounts import ADMIN_KEY
from tests.helpers_console import console_config, serve, threaded_mock

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEY_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "org": st.one_of(st.text(max_size=30), JSON),
        "user": JSON,
        "name": JSON,
        "expires_in": st.one_of(st.text(max_size=10), st.integers(), JSON),
        "models": JSON,
        "scopes": st.one_of(st.lists(st.sampled_from(["chat", "admin", "x"])), JSON),
        "limits": JSON,
        "budget": st.one_of(
            st.dictionaries(st.sampled_from(["usd_per_day", "tokens_per_month", "x"]), JSON),
            JSON,
        ),
        "priority": JSON,
        "grace": st.one_of(st.text(max_size=10), JSON),
        "key": st.one_of(st.text(max_size=60), JSON),
    },
)
BODY = st.one_of(
    KEY_FIELDS.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)
CTYPE = st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"])
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("console-fuzz")
    with threaded_mock() as mock:
        cfg = console_config(mock.url, ui={"max_failed_logins": 100_000})
        with serve(cfg, tmp) as gw:
            req = urllib.request.Request(
                gw.url + "/ui/api/login",
                data=json.dumps({"key": ADMIN_KEY}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req) as r:
                cookie = r.headers["Set-Cookie"].split(";", 1)[0]
            with urllib.request.urlopen(
                urllib.request.Request(gw.url + "/ui/api/session", headers={"Cookie": cookie})
            ) as r:
                csrf = json.loads(r.read())["csrf_token"]
            yield {"url": gw.url, "cookie": cookie, "csrf": csrf}


def check(status: int, text: str) -> None:
    assert status < 500, text
    assert "Traceback" not in text and 'File "' not in text
    if status >= 400:
        assert set(json.loads(text)["error"]) >= {"message", "type"}


@FUZZ
@given(body=BODY, ctype=CTYPE)
def test_sign_in_never_fails_inside(server: dict[str, Any], body: bytes, ctype: str) -> None:
    status, text = post(server["url"] + "/ui/api/login", body, {"Content-Type": ctype})
    check(status, text)
    assert status in (200, 400, 401, 413, 429)


@FUZZ
@given(body=BODY, ctype=CTYPE, csrf=st.text(max_size=70))
def test_sign_out_needs_the_csrf_token(
    server: dict[str, Any], body: bytes, ctype: str, csrf: str
) -> None:
    headers = {"Content-Type": ctype, "Cookie": server["cookie"]}
    if csrf.isascii() and csrf.isprintable():
        headers["X-CSRF-Token"] = csrf
    status, text = post(server["url"] + "/ui/api/logout", body, headers)
    check(status, text)
    assert status == 403  # never the session's token: the session survives the fuzzing


@FUZZ
@given(body=BODY, ctype=CTYPE, path=st.sampled_from(["", "/key_nope/rotate", "/%00/rotate"]))
def test_key_changes_with_a_session(
    server: dict[str, Any], body: bytes, ctype: str, path: str
) -> None:
    headers = {"Content-Type": ctype, "Cookie": server["cookie"], "X-CSRF-Token": server["csrf"]}
    status, text = post(server["url"] + "/v1/admin/api-keys" + path, body, headers)
    check(status, text)
    assert status in (201, 400, 404, 413), text


QUERY = st.dictionaries(
    st.sampled_from(["limit", "before", "org", "key", "model", "deployment", "status", "action"]),
    st.one_of(st.text(max_size=30), st.integers(-5, 10**20).map(str)),
    max_size=4,
)


@FUZZ
@given(
    query=QUERY,
    path=st.sampled_from(
        ["/v1/admin/requests", "/v1/admin/audit", "/v1/admin/overview", "/v1/usage"]
    ),
)
def test_admin_reports_answer_any_query(
    server: dict[str, Any], query: dict[str, str], path: str
) -> None:
    from urllib.parse import urlencode

    req = urllib.request.Request(
        server["url"] + path + "?" + urlencode(query), headers={"Cookie": server["cookie"]}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    check(status, text)
    assert status in (200, 400), text
