"""Retrying one deployment (tenacity): exponential backoff with full jitter, Retry-After
honoured, capped in attempts and in total time, only for retryable failures.

The n-th retry waits uniform(0, min(max_delay, base_delay * 2^(n-1))) ("full jitter", AWS
architecture blog), or the upstream's Retry-After when that is longer. A wait that would not
fit in the request's remaining budget (or a Retry-After beyond max_delay) ends the retries of
this deployment at once, so the dispatcher fails over instead of sleeping in vain. Sleep and
randomness are injectable so tests can watch every wait without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from aigw.routing.settings import RetrySettings
from aigw.types import GatewayError

T = TypeVar("T")


def _error(rs: RetryCallState) -> GatewayError | None:
    exc = rs.outcome.exception() if rs.outcome is not None else None
    return exc if isinstance(exc, GatewayError) else None


class retry_if_retryable(retry_base):
    """Retry only GatewayErrors marked retryable (connect errors, timeouts, 429, 5xx, 529)."""

    def __call__(self, rs: RetryCallState) -> bool:
        e = _error(rs)
        return e is not None and e.retryable


class wait_full_jitter_or_retry_after(wait_base):
    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng

    def ceiling(self, attempt: int) -> float:
        """The largest wait after the `attempt`-th try (1-based)."""
        return min(self.cap, self.base * 2 ** (attempt - 1))

    def __call__(self, rs: RetryCallState) -> float:
        delay = self.rng.uniform(0, self.ceiling(rs.attempt_number))
        e = _error(rs)
        if e is not None and e.retry_after is not None:
            delay = max(delay, e.retry_after)
        return delay


class stop_when(stop_base):
    """Stop after max_attempts, when the next wait does not fit before the deadline, when the
    upstream asks for a longer pause than max_delay, or when `blocked()` (the breaker) says so."""

    def __init__(
        self,
        max_attempts: int,
        max_delay: float,
        deadline: float,
        clock: Callable[[], float],
        blocked: Callable[[], bool],
    ) -> None:
        self.max_attempts = max_attempts
        self.max_delay = max_delay
        self.deadline = deadline
        self.clock = clock
        self.blocked = blocked

    def __call__(self, rs: RetryCallState) -> bool:
        if rs.attempt_number >= self.max_attempts:
            return True
        e = _error(rs)
        if e is not None and e.retry_after is not None and e.retry_after > self.max_delay:
            return True
        if self.clock() + rs.upcoming_sleep >= self.deadline:
            return True
        return self.blocked()


class RetryPolicy:
    def __init__(
        self,
        settings: RetrySettings,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.waits: list[float] = []  # every wait taken (tests and debugging; bounded below)

    def wait(self) -> wait_full_jitter_or_retry_after:
        s = self.settings
        return wait_full_jitter_or_retry_after(s.base_delay, s.max_delay, self.rng)

    async def _sleep(self, seconds: float) -> None:
        if len(self.waits) < 1000:
            self.waits.append(seconds)
        await self.sleep(seconds)

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        deadline: float,
        blocked: Callable[[], bool],
    ) -> T:
        """Run `attempt` until it succeeds or the retries of this deployment are spent; the
        last error is raised as it is."""
        try:
            return await attempt()
        except GatewayError as e:
            if not e.retryable or self.settings.max_attempts <= 1 or blocked():
                raise
            return await self.resume(e, attempt, deadline, blocked)

    async def resume(
        self,
        first: GatewayError,
        attempt: Callable[[], Awaitable[T]],
        deadline: float,
        blocked: Callable[[], bool],
    ) -> T:
        """The retries after a first try that failed with `first` (the dispatcher makes the
        first try itself, so the common case, it works, pays nothing for tenacity)."""
        s = self.settings
        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop_when(s.max_attempts, s.max_delay, deadline, self.clock, blocked),
            wait=self.wait(),
            retry=retry_if_retryable(),
            reraise=True,
        )
        # Replay the first failure into tenacity's state so attempt numbers and waits count it.
        rs = RetryCallState(retrying, fn=None, args=(), kwargs={})
        rs.set_exception((type(first), first, first.__traceback__))
        retrying.begin()
        return await _continue(retrying, rs, attempt)


async def _continue(
    retrying: AsyncRetrying, rs: RetryCallState, attempt: Callable[[], Awaitable[T]]
) -> T:
    """tenacity's AsyncRetrying.__call__ loop, entered after an attempt already failed."""
    from tenacity import DoAttempt, DoSleep

    while True:
        do = await retrying.iter(retry_state=rs)
        if isinstance(do, DoAttempt):
            try:
                result = await attempt()
            except BaseException as e:
                rs.set_exception((type(e), e, e.__traceback__))
            else:
                rs.set_result(result)
        elif isinstance(do, DoSleep):
            rs.prepare_for_next_attempt()
            # tenacity types BaseRetrying.sleep as returning None; AsyncRetrying's is async
            await retrying.sleep(do)  # type: ignore[misc]
        else:
            return do
