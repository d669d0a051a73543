"""The Redis backend: every decision is one Lua script (one round trip), atomic, on Redis
server time, so N gateways share one exact limit.

Keys: `{<redis_prefix><tag>}<scope>:<id>:<rule>`. Everything inside the braces is the Redis
Cluster hash tag, and all keys of one decision carry the same tag, so they live in one slot
and one script may touch them all. With a global limit configured every decision touches the
global key, so the tag is just the prefix (one slot for the whole limiter); without one the
tag is the organisation, which spreads organisations over the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aigw.limits.rules import GCRA, Check, Outcome

US = 1_000_000


def _lua(name: str) -> str:
    return resources.files("aigw.limits").joinpath("lua", name).read_text()


class RedisBackend:
    name = "redis"

    def __init__(
        self,
        url: str,
        prefix: str,
        timeout: float,
        tag_by_org: bool,
        max_connections: int = 64,
        cluster: bool = False,
    ) -> None:
        self.prefix = prefix
        self.tag_by_org = tag_by_org
        common: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),  # no silent retries: a lost Redis is the fallback's
            "health_check_interval": 0,
        }
        self.client: redis.Redis | RedisCluster
        # At most this many decisions in flight; the rest queue here (the cluster client
        # refuses outright past max_connections per node, which is no Redis outage).
        self._slots = asyncio.Semaphore(max_connections)
        if cluster:
            self.client = RedisCluster.from_url(url, max_connections=max_connections, **common)
        else:
            # Bounded pool: a burst waits briefly for a connection instead of opening
            # hundreds; the caller's deadline (fallback.py) bounds that wait like any other.
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout * 4,
                retry_on_timeout=False,
                **common,
            )
            self.client = redis.Redis(connection_pool=pool)
        self._admit = self.client.register_script(_lua("admit.lua"))
        self._settle = self.client.register_script(_lua("settle.lua"))

    async def close(self) -> None:
        await self.client.aclose()

    async def reset(self) -> None:
        """Drop every connection (the next command opens fresh ones)."""
        if isinstance(self.client, RedisCluster):
            await self.client.aclose()  # it re-reads the cluster's layout on next use
        else:
            await self.client.connection_pool.disconnect(inuse_connections=True)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    def keys(self, checks: Sequence[Check], org: str) -> list[str]:
        tag = f"{self.prefix}o:{org}" if self.tag_by_org else self.prefix
        head = "{" + tag + "}"
        return [head + c.key for c in checks]

    async def admit(self, checks: Sequence[Check], org: str, dry: bool = False) -> Outcome:
        args: list[str | int | float] = ["1" if dry else "0"]
        for c in checks:
            r = c.rule
            args += (r.kind, c.cost, r.limit, int(r.period * US))
        async with self._slots:
            res = await self._admit(keys=self.keys(checks, org), args=args)
        n = len(checks)
        remaining = [int(res[3 + 3 * i]) for i in range(n)]
        reset = [int(res[4 + 3 * i]) / US for i in range(n)]
        windows = [int(res[5 + 3 * i]) for i in range(n)]
        wait = float("inf") if res[1] < 0 else res[1] / US
        return Outcome(bool(res[0]), wait, int(res[2]) - 1, remaining, reset, windows, self)

    async def settle(
        self, checks: Sequence[Check], deltas: Sequence[int], windows: Sequence[int], org: str
    ) -> None:
        keys = self.keys(checks, org)
        k: list[str] = []
        args: list[str | int] = []
        for key, c, d, w in zip(keys, checks, deltas, windows, strict=True):
            if d:
                r = c.rule
                k.append(key)
                args += (r.kind, d, r.limit, int(r.period * US), w if r.kind != GCRA else 0)
        if k:
            async with self._slots:
                await self._settle(keys=k, args=args)
