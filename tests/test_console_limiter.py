"""The console's failed sign-in limiter: per address, a sliding window, bounded memory."""

from __future__ import annotations

from aigw.ui.limiter import LoginLimiter
from tests.helpers_accounts import FakeClock


def test_limits_an_address_until_its_oldest_failure_leaves_the_window() -> None:
    clock = FakeClock()
    lim = LoginLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert lim.retry_after("10.0.0.1") is None
        lim.failed("10.0.0.1")
        clock.t += 1
    wait = lim.retry_after("10.0.0.1")
    assert wait is not None and 56 <= wait <= 58  # first failure at 1000, now 1003
    assert lim.retry_after("10.0.0.2") is None  # other addresses are not affected
    clock.t = 1000 + 60.5
    assert lim.retry_after("10.0.0.1") is None  # the first failure left the window


def test_success_forgets_the_failures() -> None:
    lim = LoginLimiter(2, 60.0, clock=FakeClock())
    lim.failed("a")
    lim.succeeded("a")
    lim.failed("a")
    assert lim.retry_after("a") is None


def test_memory_is_bounded() -> None:
    lim = LoginLimiter(2, 60.0, max_addresses=100, clock=FakeClock())
    for i in range(10_000):
        lim.failed(f"addr-{i}")
    assert len(lim._failures) == 100
    lim.failed("addr-9999")
    assert lim.retry_after("addr-9999") is not None  # the newest are kept
