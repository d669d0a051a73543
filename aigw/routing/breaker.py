"""A circuit breaker per deployment: stop sending traffic to one that keeps failing.

closed --(N consecutive failures, or error rate over the window)--> open
open   --(cool-down elapsed)--> half-open: exactly one probe goes through
half-open --probe ok--> closed;  --probe failed--> open again, for a longer cool-down

Only failures that say something about the deployment count (retryable ones: 5xx, 429, 529,
timeouts, resets); a client error (400) is the caller's fault, not the deployment's. Trips and
closings are shared through Redis when configured (see `SharedBreakers`), so one instance
that finds a deployment down spares the others the same discovery.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aigw.routing.settings import BreakerSettings

log = logging.getLogger("aigw.routing")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    __slots__ = (
        "_failed",
        "_window",
        "clock",
        "consecutive",
        "on_change",
        "open_until",
        "probing",
        "settings",
        "state",
        "trips",
        "trips_total",
    )

    def __init__(
        self,
        settings: BreakerSettings,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Breaker], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state = CLOSED
        self.consecutive = 0
        self.trips = 0  # trips since the deployment was last healthy: grows the cool-down
        self.trips_total = 0  # trips of this instance's breaker since start (metrics)
        self.open_until = 0.0
        self.probing = False
        self._window: deque[tuple[float, bool]] = deque()  # (time, failed) of recent calls
        self._failed = 0  # failures in the window
        self.on_change = on_change  # tells the Redis sharing about local trips and closings

    # --- asked before each attempt -------------------------------------------------------

    def available(self) -> bool:
        """Whether the balancer may pick this deployment now (does not take the probe)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            return self.clock() >= self.open_until
        return not self.probing

    def allow(self) -> bool:
        """Take permission for one call: always when closed; in half-open only the one probe."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self.clock() < self.open_until:
                return False
            self.state = HALF_OPEN
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        return max(0.0, self.open_until - self.clock()) if self.state == OPEN else 0.0

    # --- told after each attempt ---------------------------------------------------------

    def success(self) -> None:
        if self.state == CLOSED:
            self.consecutive = 0
            if self._window:  # only kept while failures are recent
                self._record(False)
            return
        self._close()
        if self.on_change:
            self.on_change(self)

    def failure(self) -> None:
        if self.state == HALF_OPEN or self.state == OPEN:
            self.trip()
            return
        self.consecutive += 1
        failed_share = self._record(True)
        s = self.settings
        if self.consecutive >= s.failure_threshold or failed_share >= s.error_rate:
            self.trip()

    def release_probe(self) -> None:
        """The probe ended without telling anything (cancelled): let another one try."""
        if self.state == HALF_OPEN:
            self.probing = False

    # --- transitions ---------------------------------------------------------------------

    def trip(self, cooldown: float | None = None) -> None:
        s = self.settings
        self.trips += 1
        self.trips_total += 1
        if cooldown is None:
            cooldown = min(s.max_cooldown, s.cooldown * s.cooldown_multiplier ** (self.trips - 1))
        self.state = OPEN
        self.open_until = self.clock() + cooldown
        self.probing = False
        self.consecutive = 0
        self._window.clear()
        self._failed = 0
        if self.on_change:
            self.on_change(self)

    def force_open(self, until_in: float, trips: int) -> None:
        """Another instance tripped this deployment's breaker (shared through Redis)."""
        self.trips = max(self.trips, trips)
        self.state = OPEN
        self.open_until = max(self.open_until, self.clock() + until_in)
        self.probing = False
        self.consecutive = 0
        self._window.clear()
        self._failed = 0

    def force_close(self) -> None:
        if self.state != CLOSED:
            self._close()

    def _close(self) -> None:
        self.state = CLOSED
        self.trips = 0
        self.consecutive = 0
        self.probing = False
        self._window.clear()
        self._failed = 0

    def _record(self, failed: bool) -> float:
        """Add one outcome to the window; the share of failures once min_requests is reached."""
        now = self.clock()
        w = self._window
        w.append((now, failed))
        self._failed += failed
        horizon = now - self.settings.window
        while w[0][0] < horizon:
            self._failed -= w.popleft()[1]
        if len(w) < self.settings.min_requests:
            return 0.0
        return self._failed / len(w)


class SharedBreakers:
    """Breaker trips and closings shared across instances through Redis.

    A trip writes `<prefix>breaker:<deployment>` = "<trips>" with the cool-down as its TTL
    and publishes it on `<prefix>breakers`; every instance opens its own breaker for the rest
    of that cool-down. A successful probe deletes the key and publishes the closing. Failure
    counting stays local (no Redis round trip per request); instances that start later read
    the keys of the deployments they know. Redis being down only turns the sharing off.
    """

    def __init__(self, redis: Any, prefix: str, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.prefix = prefix
        self.channel = f"{prefix}breakers"
        self.clock = clock
        self.instance = uuid.uuid4().hex[:12]
        self._states: dict[str, Any] = {}  # deployment name -> DeploymentState
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    def key(self, name: str) -> str:
        return f"{self.prefix}breaker:{name}"

    def unwatch(self, name: str) -> None:
        """Stop sharing a deployment's breaker (its state was dropped)."""
        self._states.pop(name, None)

    def watch(self, st: Any) -> None:
        """Share this deployment's breaker: its local trips and closings are published."""
        if st.name in self._states:
            return
        self._states[st.name] = st
        name = st.name

        def changed(b: Breaker) -> None:
            if self._applying:
                return
            task = asyncio.get_running_loop().create_task(self._publish(name, b))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        st.breaker.on_change = changed

    _applying = False  # set while applying a remote change, so it is not echoed back

    async def start(self) -> None:
        names = list(self._states)
        if names:
            try:
                async with self.redis.pipeline(transaction=False) as p:
                    for n in names:
                        p.get(self.key(n))
                        p.pttl(self.key(n))
                    res = await p.execute()
                for i, n in enumerate(names):
                    trips, ttl = res[2 * i], res[2 * i + 1]
                    if trips is not None and ttl and ttl > 0:
                        self._apply_open(n, ttl / 1000, int(trips))
            except Exception as e:
                log.warning("redis unreachable: breakers not shared", extra={"error": str(e)})
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _publish(self, name: str, b: Breaker) -> None:
        try:
            if b.state == OPEN:
                ms = max(1, int((b.open_until - self.clock()) * 1000))
                await self.redis.set(self.key(name), b.trips, px=ms)
                msg = f"open {self.instance} {ms} {b.trips} {name}"
            else:
                await self.redis.delete(self.key(name))
                msg = f"close {self.instance} 0 0 {name}"
            await self.redis.publish(self.channel, msg)
        except Exception as e:
            log.warning("redis unreachable: breaker change not shared", extra={"error": str(e)})

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for m in pubsub.listen():
                    if m.get("type") == "message":
                        self._on_message(m["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._ready.set()
                log.warning("redis unreachable: breakers not shared", extra={"error": str(e)})
                await asyncio.sleep(1.0)

    def _on_message(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        try:
            kind, inst, ms, trips, name = text.split(" ", 4)
        except ValueError:
            return
        if inst == self.instance or name not in self._states:
            return
        if kind == "open":
            self._apply_open(name, int(ms) / 1000, int(trips))
        elif kind == "close":
            self._applying = True
            try:
                self._states[name].breaker.force_close()
            finally:
                self._applying = False

    def _apply_open(self, name: str, seconds: float, trips: int) -> None:
        st = self._states.get(name)
        if st is not None:
            st.breaker.force_open(seconds, trips)
