"""For the console tests: the mock upstream on a thread of its own (so blocking clients such
as selenium can run in the test's thread), a real `aigw serve` with the console on, and a
headless Chromium from the system's packages (never a downloaded browser or driver)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aigw.bench.mock_upstream import MockOpenAI
from tests.helpers_accounts import ADMIN_KEY
from tests.procs import ServeProcess

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"


@contextmanager
def threaded_mock() -> Iterator[MockOpenAI]:
    """MockOpenAI served by an event loop on a daemon thread."""
    loop = asyncio.new_event_loop()
    mock = MockOpenAI()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(mock.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(30), "mock upstream did not start"
    try:
        yield mock
    finally:
        asyncio.run_coroutine_threadsafe(mock.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        t.join(30)


def console_config(mock_url: str, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "providers": {
            "mock": {"type": "openai", "base_url": mock_url, "api_key": "sk-upstream-secret"}
        },
        "models": {
            "gpt-test": {"provider": "mock", "model": "upstream-model"},
            "embed-test": {"provider": "mock", "model": "upstream-embed"},
        },
        "billing": {"prices": {"gpt-test": {"input": 2.5, "output": 10.0}}},
        "cache": {"enabled": True, "semantic": {"enabled": False}},
        "logging": {"level": "warning"},
        "auth": {"required": True},
    }
    cfg.update(extra)
    return cfg


@contextmanager
def serve(cfg: dict[str, Any], tmp: Path) -> Iterator[ServeProcess]:
    """`aigw serve` in a child process, ready; stopped (SIGTERM) afterwards."""
    p = ServeProcess(cfg, tmp, env={"AIGW_ADMIN_KEY": ADMIN_KEY})
    try:
        deadline = time.monotonic() + 60
        while True:
            if p.proc.poll() is not None:
                raise RuntimeError(f"aigw exited early:\n{p.log()}")
            try:
                with urllib.request.urlopen(p.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"aigw did not become ready:\n{p.log()}") from None
                time.sleep(0.05)  # polling a starting process, bounded by the deadline
        yield p
    finally:
        asyncio.run(p.stop())


def chromium() -> Any:
    """Headless Chromium through the system's chromedriver (Debian's `chromium`,
    `chromium-driver`): the driver path is given, so selenium downloads nothing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager reach the network
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.path.exists(driver_path), "chromedriver missing: apt-get install chromium-driver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for a in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1200",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
