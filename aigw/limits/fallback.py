"""Redis first, a local limiter while Redis is unreachable.

A refused or reset connection, or TIMEOUTS_TO_DOWN timeouts in a row, marks Redis down
(logged once per outage, never with its URL) and starts a probe that pings it every `redis_retry_interval`; decisions go to the local limiter
meanwhile, which enforces this process's share of each limit (limit // (cluster_size x
server.workers)), or, with `on_redis_error: fail_closed`, are refused with a 503. When the
probe succeeds, decisions go back to Redis, whose state was never touched by the outage.
A request never waits longer than about twice `redis_timeout` for Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aigw.limits.memory import MemoryBackend
from aigw.limits.redis_backend import RedisBackend
from aigw.limits.rules import Check, Outcome
from aigw.types import GatewayError

log = logging.getLogger("aigw.limits")

_FAILURES = (RedisError, OSError, TimeoutError)
# A slow answer may be load (ours or Redis's), not an outage: only this many timeouts in a
# row mark Redis down. A refused or reset connection marks it down at once.
TIMEOUTS_TO_DOWN = 3


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, TimeoutError | RedisTimeoutError)


class ClusterLimiter:
    def __init__(
        self,
        redis: RedisBackend,
        local: MemoryBackend,
        policy: str,
        timeout: float,
        retry_interval: float,
    ) -> None:
        self.redis = redis
        self.local = local
        self.policy = policy
        self.deadline = 2 * timeout  # connect + reply: a hard cap, whatever the client does
        self.retry_interval = retry_interval
        self.redis_up = True
        self.down_since: float | None = None
        self.outages = 0
        self.fallback_decisions = 0
        self._probe: asyncio.Task[None] | None = None
        self._closed = False
        self._timeouts = 0  # in a row
        self.redis_errors = 0

    # --- decisions ------------------------------------------------------------------------

    async def admit(self, checks: Sequence[Check], org: str, dry: bool = False) -> Outcome:
        if self.redis_up:
            try:
                async with asyncio.timeout(self.deadline):
                    out = await self.redis.admit(checks, org, dry)
                self._timeouts = 0
                return out
            except _FAILURES as e:
                self._failed(e)
        # This decision follows the outage policy (a lone timeout included).
        self.fallback_decisions += 1
        if self.policy == "fail_closed":
            raise GatewayError(
                503,
                "Rate limits cannot be checked right now (their shared store is unreachable). "
                "Please try again shortly.",
                "api_error",
                "rate_limiter_unavailable",
                retry_after=self.retry_interval,
            )
        return self.local.admit_now(checks, dry)

    async def settle(
        self, outcome: Outcome, checks: Sequence[Check], deltas: Sequence[int], org: str
    ) -> None:
        if outcome.backend is self.local:
            await self.local.settle(checks, deltas, outcome.windows, org)
            return
        if not self.redis_up:
            return  # the reservation stays counted in Redis: conservative, never over
        try:
            async with asyncio.timeout(self.deadline):
                await self.redis.settle(checks, deltas, outcome.windows, org)
        except _FAILURES as e:
            self._failed(e)

    # --- outage ---------------------------------------------------------------------------

    def _failed(self, e: BaseException) -> None:
        self.redis_errors += 1
        if _is_timeout(e):
            self._timeouts += 1
            if self._timeouts < TIMEOUTS_TO_DOWN:
                return
        self._down(e)

    def _down(self, e: BaseException) -> None:
        self._timeouts = 0
        if not self.redis_up:
            return
        self.redis_up = False
        self.down_since = time.time()
        self.outages += 1
        log.warning(
            "rate limiter: Redis unreachable, limiting locally"
            if self.policy == "fail_open"
            else "rate limiter: Redis unreachable, refusing requests (fail_closed)",
            extra={
                "error": type(e).__name__,
                "policy": self.policy,
                "local_share_divisor": self.local.divisor,
            },
        )
        if not self._closed and (self._probe is None or self._probe.done()):
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.retry_interval)  # a timer between probes
            try:
                async with asyncio.timeout(self.deadline):
                    # Connections opened before the outage may be dead without knowing it:
                    # drop them all, then ping on a fresh one.
                    await self.redis.reset()
                    await self.redis.ping()
            except _FAILURES:
                continue
            self.redis_up = True
            log.warning(
                "rate limiter: Redis is back, limits are shared again",
                extra={"down_s": round(time.time() - (self.down_since or time.time()), 3)},
            )
            self.down_since = None
            return

    # --- lifecycle and state --------------------------------------------------------------

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self.deadline):
                await self.redis.ping()
        except _FAILURES as e:
            self.redis_errors += 1
            self._down(e)

    async def close(self) -> None:
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self.redis.close()

    def state(self) -> dict[str, Any]:
        """For metrics and health: which store decides, and how the outages went."""
        return {
            "backend": "redis" if self.redis_up else "local",
            "redis_up": self.redis_up,
            "policy": self.policy,
            "down_since": self.down_since,
            "outages": self.outages,
            "fallback_decisions": self.fallback_decisions,
            "redis_errors": self.redis_errors,
            "local_share_divisor": self.local.divisor,
        }
