"""The key cache: fresh entries without I/O, one read for concurrent misses, negative
entries, and stale valid keys served while the store is down (never past `stale`)."""

from __future__ import annotations

import asyncio

import pytest

from aigw.auth.cache import KeyCache
from aigw.store import KeyRecord, StoreUnavailable
from tests.helpers_accounts import FakeClock

REC = KeyRecord(id="key_1", org_id="acme", prefix="aigw_abcdefg", key_hash="h1")


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, key_hash: str) -> KeyRecord | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnavailable("down")
        return REC if key_hash == "h1" else None


async def test_ttl_negative_entries_and_single_flight() -> None:
    load, clock = Loader(), FakeClock()
    cache = KeyCache(load, ttl=30, stale=3600, clock=clock)
    load.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("h1")) for _ in range(20)]
    await asyncio.sleep(0)
    load.gate.set()
    assert [await t for t in waiting] == [REC] * 20 and load.calls == 1  # one read
    load.gate = None
    assert await cache.get("h1") is REC and load.calls == 1
    assert await cache.get("nope") is None and await cache.get("nope") is None
    assert load.calls == 2  # unknown keys are cached too
    clock.t += 31
    assert await cache.get("h1") is REC and load.calls == 3  # re-read after the TTL
    cache.forget("key_1")
    assert cache.peek("h1") is None


async def test_store_down_serves_stale_valid_keys_only() -> None:
    load, clock = Loader(), FakeClock()
    cache = KeyCache(load, ttl=30, stale=600, clock=clock)
    assert await cache.get("h1") is REC
    load.down = True
    clock.t += 300  # stale, store down: still served
    assert await cache.get("h1") is REC
    calls = load.calls
    assert await cache.get("h1") is REC and load.calls == calls  # no new read for a moment
    with pytest.raises(StoreUnavailable):  # never seen: cannot be checked
        await cache.get("h2")
    clock.t += 400  # past `stale` (and the pause): no longer trusted
    with pytest.raises(StoreUnavailable):
        await cache.get("h1")
    load.down = False
    assert await cache.get("h1") is REC
