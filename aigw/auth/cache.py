"""An in-memory cache of key look-ups (by hash), so the hot path rarely reads the database.

- A fresh entry (younger than `ttl`) is used as is: a revoked key stops within `ttl`.
- A stale entry is refreshed from the database; if the database is down, a stale *valid*
  entry keeps working for up to `stale` seconds, so an outage does not log everyone out.
- Unknown keys are cached too (negatively) for `ttl`, so a flood of bad keys cannot hammer
  the database. Concurrent misses for one key share a single database read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aigw.store.base import KeyRecord, StoreUnavailable

Loader = Callable[[str], Awaitable[KeyRecord | None]]


class KeyCache:
    def __init__(
        self,
        load: Loader,
        ttl: float = 30.0,
        stale: float = 3600.0,
        size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.stale = stale
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, KeyRecord | None]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[KeyRecord | None]] = {}
        # After a failed read, stale entries are served without asking the store again for
        # a moment: a store that hangs must not add its timeout to every request.
        self._down_until = 0.0

    async def get(self, key_hash: str) -> KeyRecord | None:
        """The key's record, None when unknown. Raises StoreUnavailable only when the
        database is down and nothing usable is cached."""
        now = self._clock()
        hit = self._entries.get(key_hash)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        stale_ok = hit is not None and hit[1] is not None and now - hit[0] < self.stale
        if stale_ok and now < self._down_until:
            return hit[1]  # type: ignore[index]
        fut = self._inflight.get(key_hash)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._inflight[key_hash] = fut
            try:
                rec = await self._load(key_hash)
            except StoreUnavailable as e:
                self._down_until = self._clock() + min(self.ttl, 5.0)
                fut.set_exception(e)
                fut.exception()  # retrieved: waiters re-raise it themselves
            else:
                self._put(key_hash, rec)
                fut.set_result(rec)
            finally:
                del self._inflight[key_hash]
        try:
            return await asyncio.shield(fut)
        except StoreUnavailable:
            if hit is not None and hit[1] is not None and now - hit[0] < self.stale:
                return hit[1]
            raise

    def peek(self, key_hash: str) -> KeyRecord | None:
        """A fresh cached record, without I/O (None when absent or stale)."""
        hit = self._entries.get(key_hash)
        if hit is not None and self._clock() - hit[0] < self.ttl:
            return hit[1]
        return None

    def _put(self, key_hash: str, rec: KeyRecord | None) -> None:
        self._entries[key_hash] = (self._clock(), rec)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop a key (revoked or rotated here): this process stops honouring it at once."""
        for h, (_, rec) in list(self._entries.items()):
            if rec is not None and rec.id == key_id:
                del self._entries[h]
