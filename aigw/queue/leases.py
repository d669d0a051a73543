"""A cluster-wide concurrency cap per deployment: leases in Redis with a time to live.

Each deployment has a sorted set `<prefix>lease:<deployment>` of lease ids scored by their
expiry (Redis server time, so instance clocks do not matter). Taking a lease drops expired
ones and adds ours if fewer than `limit` remain, in one Lua script (atomic). Held leases are
renewed every ttl/3 by a heartbeat; an instance that dies stops renewing, so its slots free
themselves after `lease_ttl`. A waiter polls (with jitter) until its deadline.

Redis being down must not stop traffic: the cap then falls back to each instance's own
slots (logged once per outage).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

log = logging.getLogger("aigw.routing")

# KEYS[1] lease set; ARGV: limit, ttl_ms, lease id. Returns 1 when taken.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""

# KEYS: lease sets; ARGV[1] ttl_ms, ARGV[2..] lease ids (one per key). Extends live leases.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]) * 2)
end
return #KEYS
"""


class ClusterLeases:
    def __init__(self, redis: Any, prefix: str, ttl: float, poll: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.poll = poll
        self.instance = uuid.uuid4().hex[:12]
        self._held: dict[str, str] = {}  # lease id -> key
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._heartbeat: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[Any]] = set()
        self._down = False
        self._retry_redis_at = 0.0  # during an outage, Redis is asked again only after this

    def key(self, deployment: str) -> str:
        return f"{self.prefix}lease:{deployment}"

    async def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        held, self._held = self._held, {}
        for lid, key in held.items():  # hand back what we still hold, best effort
            try:
                await self.redis.zrem(key, lid)
            except Exception:
                break

    async def acquire(self, deployment: str, limit: int, deadline: float) -> str | None:
        """Take a lease, polling until `deadline` (time.monotonic()). Returns the lease id, or
        None when Redis is unreachable (the caller then relies on its local slots). Raises
        TimeoutError when the deadline passes first."""
        if self._down and time.monotonic() < self._retry_redis_at:
            return None  # known outage: do not make every request wait on a dead connection
        key = self.key(deployment)
        lid = f"{self.instance}:{uuid.uuid4().hex[:12]}"
        delay = self.poll
        while True:
            try:
                ok = await self._acquire(keys=[key], args=[limit, self.ttl_ms, lid])
            except Exception as e:
                self._outage(e)
                return None
            if self._down:
                self._down = False
                log.warning("redis reachable again: cluster-wide concurrency caps back on")
            if ok:
                self._held[lid] = key
                return lid
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            # Jitter keeps the instances' polls from marching in step.
            await asyncio.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 1.5, 0.25)

    def release(self, lid: str) -> None:
        key = self._held.pop(lid, None)
        if key is None:
            return
        task = asyncio.get_running_loop().create_task(self._zrem(key, lid))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _zrem(self, key: str, lid: str) -> None:
        try:
            await self.redis.zrem(key, lid)
        except Exception as e:  # expires by itself after the ttl
            self._outage(e)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            held = list(self._held.items())
            if not held:
                continue
            try:
                await self._renew(
                    keys=[k for _, k in held], args=[self.ttl_ms, *(lid for lid, _ in held)]
                )
                self._down = False
            except Exception as e:
                self._outage(e)

    def _outage(self, e: Exception) -> None:
        self._retry_redis_at = time.monotonic() + 1.0
        if not self._down:
            self._down = True
            log.warning(
                "redis unreachable: cluster-wide concurrency caps fall back to local slots",
                extra={"error": type(e).__name__},
            )
