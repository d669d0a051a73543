"""The shared store: entries in Redis with a TTL; every instance keeps its vector index in step.

An answer is SET under `<prefix>e:<key>` with its TTL, so every instance sees exact hits at
once. An answer that may be served by meaning is also appended to the stream
`<prefix>semantic` (key, scope, text, vector, expiry; trimmed to about `max_entries`).
Every instance follows that stream and adds what it reads to its local usearch index, and
at start-up replays it from the beginning, which rebuilds the index from Redis.

Redis trouble never fails a request: a lookup that errors or takes longer than
`redis_timeout` is a miss, a store that fails is dropped (and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from aigw.cache.entry import Entry
from aigw.cache.semantic import SemanticIndex

log = logging.getLogger("aigw.cache")

READ_BATCH = 1000
BLOCK_MS = 2000

# The clients are RESP2 without decode_responses: replies are bytes, and XREAD answers
# [(stream, [(id, fields), ...])]. redis-py's annotations cover every protocol and decoding.
_Records = list[tuple[bytes, dict[bytes, Any]]]
_XRead = list[tuple[bytes, _Records]]


class RedisStore:
    def __init__(
        self,
        url: str,
        prefix: str,
        timeout: float,
        max_entries: int,
        index: SemanticIndex | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import redis.asyncio as redis

        self.prefix = prefix
        self.stream = prefix + "semantic"
        self.max_entries = max_entries
        self.index = index
        self.clock = clock
        # Lookups and stores: short timeouts. The follower blocks on XREAD, so it has its own
        # connection without a socket timeout.
        self._r = redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._rf = redis.from_url(url, socket_connect_timeout=max(timeout, 1.0))
        self._last_id = b"0-0"
        self._task: asyncio.Task[None] | None = None
        self._warned = 0.0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.index is None:
            return
        try:
            await self._catch_up()
        except Exception as e:  # Redis down at start-up: the follower retries
            self._warn("cache index rebuild from Redis failed", e)
        self._task = asyncio.create_task(self._follow(), name="aigw-cache-follow")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._r.aclose()
        await self._rf.aclose()

    # --- entries --------------------------------------------------------------------------

    async def get(self, key: str) -> Entry | None:
        try:
            data = cast("bytes | None", await self._r.get(self.prefix + "e:" + key))
        except Exception as e:
            self._warn("cache lookup failed", e)
            return None
        if data is None:
            return None
        try:
            entry = Entry.decode(data)
        except Exception:
            return None
        return entry if entry.expires > self.clock() else None

    async def put(
        self,
        key: str,
        entry: Entry,
        semantic: tuple[str, str, np.ndarray] | None = None,
        data: bytes | None = None,
    ) -> None:
        ttl_ms = int((entry.expires - self.clock()) * 1000)
        if ttl_ms <= 0:
            return
        data = data if data is not None else entry.encode()
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.set(self.prefix + "e:" + key, data, px=ttl_ms)
                if semantic is not None:
                    scope, text, vec = semantic
                    p.xadd(
                        self.stream,
                        {
                            "k": key,
                            "s": scope,
                            "t": text.encode(),
                            "v": np.asarray(vec, np.float32).tobytes(),
                            "x": str(entry.expires),
                        },
                        maxlen=self.max_entries,
                        approximate=True,
                    )
                    # The log outlives no entry: it expires with the newest one it carries.
                    p.pexpire(self.stream, ttl_ms, gt=True)
                    p.pexpire(self.stream, ttl_ms, nx=True)
                await p.execute()
        except Exception as e:
            self._warn("cache store failed", e)
            return
        if semantic is not None and self.index is not None:
            # Read-your-writes on this instance; the follower's copy is then a no-op.
            scope, text, vec = semantic
            self.index.add(key, scope, vec, text, entry.expires)

    # --- following the semantic log -------------------------------------------------------

    async def _catch_up(self) -> None:
        while True:
            got = cast(_XRead, await self._rf.xread({self.stream: self._last_id}, count=READ_BATCH))
            if not got or not got[0][1]:
                return
            # Start-up: nothing else touches the index yet, so the batch insert (seconds for
            # 100k entries) can run in a thread and leave the loop free.
            await asyncio.to_thread(self._apply, got[0][1])

    async def _follow(self) -> None:
        backoff = 0.1
        while True:
            try:
                got = cast(
                    _XRead,
                    await self._rf.xread(
                        {self.stream: self._last_id}, count=READ_BATCH, block=BLOCK_MS
                    ),
                )
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._warn("cache index follower: Redis error", e)
                await asyncio.sleep(backoff)  # retry pacing while Redis is away
                backoff = min(backoff * 2, 5.0)
                continue
            if got:
                self._apply(got[0][1])

    def _apply(self, records: _Records) -> None:
        assert self.index is not None
        now = self.clock()
        batch = []
        for rid, f in records:
            self._last_id = rid
            try:
                expires = float(f[b"x"])
                if expires <= now:
                    continue
                vec = np.frombuffer(f[b"v"], np.float32)
                if vec.shape[0] != self.index.dim:
                    continue  # written by an instance with another embedding model
                batch.append((f[b"k"].decode(), f[b"s"].decode(), vec, f[b"t"].decode(), expires))
            except (KeyError, ValueError, UnicodeDecodeError):
                log.warning("cache index follower: skipping a malformed record")
        if batch:
            self.index.add_many(batch)

    def _warn(self, msg: str, e: BaseException) -> None:
        # At most one line every 10 s: an outage must not flood the log.
        now = time.monotonic()
        if now - self._warned >= 10.0:
            self._warned = now
            log.warning(msg, extra={"error": type(e).__name__})
