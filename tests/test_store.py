"""The Store on SQLite and PostgreSQL: keys, users, audit, usage idempotence and reports."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from aigw.store import KeyRecord, Store, migrations
from aigw.store.sqlite import SqliteStore
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)

DAY = 86400.0


def _usage(rid: str, ts: float, model: str = "m1", **kw: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "request_id": rid,
        "ts": ts,
        "org_id": "acme",
        "user_id": None,
        "key_id": "key_1",
        "endpoint": "chat",
        "model": model,
        "provider": "mock",
        "deployment": "mock/up",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "cost_usd": 0.5,
        "saved_usd": 0.0,
        "latency_ms": 12.5,
        "cache": None,
        "status": 200,
    }
    rec.update(kw)
    return rec


async def test_keys_roundtrip(store: Store) -> None:
    now = time.time()
    k = KeyRecord(
        id="key_a",
        org_id="acme",
        user_id="alice",
        prefix="aigw_abcdefg",
        key_hash="h" * 64,
        name="ci",
        scopes=["chat"],
        models=["gpt-test"],
        limits={"rpm": 5},
        budget={"usd_per_day": 1.5},
        priority=3,
        expires_at=now + 100,
        created_at=now,
    )
    await store.insert_key(k)
    got = await store.key_by_hash("h" * 64)
    assert got == k
    assert [x.id for x in await store.find_keys("aigw_abcdefg")] == ["key_a"]
    assert [x.id for x in await store.find_keys("key_a")] == ["key_a"]
    assert await store.key_by_hash("nope") is None
    users = await store.list_users()
    assert users[0]["id"] == "alice" and users[0]["org"] == "acme" and users[0]["active_keys"] == 1
    await store.revoke_key("key_a", at=now)
    got = await store.key_by_hash("h" * 64)
    assert got is not None and got.status(now + 1) == "revoked"
    await store.touch_keys({"key_a": now + 5})
    await store.touch_keys({"key_a": now + 1})  # never goes back
    got = await store.key_by_hash("h" * 64)
    assert got is not None and got.last_used_at == now + 5
    assert "key_hash" not in got.public()
    await store.audit("admin", "keys.create", "key_a", {"org": "acme"})
    assert (await store.audit_entries())[0]["detail"] == {"org": "acme"}


async def test_usage_rows_are_stored_exactly_and_old_records_get_defaults(store: Store) -> None:
    """Every value comes back as it went in (SQLite inserts a batch as multi-row VALUES:
    floats to the last digit, text beyond ASCII, nulls), and a record spooled by an older
    version, missing the newer columns, gets their defaults."""
    full = _usage(
        "r-ü", 1_700_000_000.123456, "modèle", user_id="u/1", cost_usd=1e-7, latency_ms=0.1 + 0.2
    )
    full["cache"] = "hit"
    old = {
        "id": "old-1",
        "request_id": "r-old",
        "ts": 1_700_000_001.5,
        "org_id": "acme",
        "model": "m1",
        "status": 200,
    }
    await store.insert_usage([full, old])
    rows = {r["id"]: r for r in await store.usage_rows()}
    assert {k: rows[full["id"]][k] for k in full} == full
    got = rows["old-1"]
    assert got["endpoint"] == "chat" and got["prompt_tokens"] == 0 and got["cost_usd"] == 0
    assert got["user_id"] is None and got["key_id"] is None and got["status"] == 200


async def test_a_batch_larger_than_one_statement_is_stored_once(store: Store) -> None:
    """SQLite splits a batch into statements of at most 500 rows (its bound-values cap):
    every row lands, and a replay overlapping what is stored adds only the new ones."""
    recs = [_usage(f"r{i}", 1_700_000_000.0 + i, "m1") for i in range(1201)]
    await store.insert_usage(recs[:700])
    await store.insert_usage(recs)
    rows = await store.usage_rows()
    assert len(rows) == 1201 and {r["request_id"] for r in rows} == {r["request_id"] for r in recs}


async def test_usage_is_idempotent_and_grouped(store: Store) -> None:
    t0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    recs = [
        _usage("r1", t0, "m1"),
        _usage("r2", t0 + 10, "m2", cost_usd=0.25),
        _usage("r3", t0 + DAY, "m1", cache="hit", cost_usd=0.0, saved_usd=0.5),
    ]
    await store.insert_usage(recs)
    await store.insert_usage(recs)  # a replay stores nothing twice
    assert len(await store.usage_rows()) == 3
    (total,) = await store.usage_report(org_id="acme")
    assert total["requests"] == 3 and total["cost_usd"] == 0.75 and total["saved_usd"] == 0.5
    assert total["total_tokens"] == 45 and total["cache_hits"] == 1
    by_model = {r["model"]: r for r in await store.usage_report(by="model")}
    assert by_model["m1"]["requests"] == 2 and by_model["m2"]["cost_usd"] == 0.25
    by_day = await store.usage_report(by="day")
    assert [r["day"] for r in by_day] == ["2023-11-14", "2023-11-15"]
    assert [r["requests"] for r in by_day] == [2, 1]
    since = await store.usage_report(since=t0 + 5, until=t0 + DAY)
    assert since[0]["requests"] == 1
    assert await store.usage_report(org_id="other") == [
        {
            "requests": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_tokens": 0,
            "cost_usd": 0.0,
            "saved_usd": 0.0,
            "cache_hits": 0,
            "answered": 0,
            "refused": 0,
            "failed": 0,
            "total_tokens": 0,
        }
    ]
    cost, tokens = await store.spent("key_id", "key_1", t0)
    assert cost == 0.75 and tokens == 45


async def _sqlite_pair(tmp_path: Path) -> tuple[SqliteStore, sqlite3.Connection]:
    """A migrated SQLite store, and a plain connection to its file: another worker."""
    path = str(tmp_path / "shared.db")
    store = SqliteStore(path)
    await store.connect()
    await migrations.up(store)
    # Its own connection, used from the store's database threads as well.
    other = sqlite3.connect(path, 10, isolation_level=None, check_same_thread=False)
    return store, other


async def test_sqlite_a_write_never_runs_inside_a_read_snapshot(tmp_path: Path) -> None:
    """A read and a write of one worker interleave while another worker writes: the write
    waits for the lock (busy timeout), never fails at once with SQLITE_BUSY_SNAPSHOT
    ("database is locked", which the usage writer took for an outage). The other worker
    writes from inside the read (a SQL function of it): on one shared connection that put
    the write exactly inside the read's snapshot."""
    store, other = await _sqlite_pair(tmp_path)
    try:
        await store.insert_usage([_usage("r1", 1.0), _usage("r2", 2.0)])
        writes: list[str] = []

        def other_worker_writes() -> int:
            org = f"other-{len(writes)}"
            other.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, '', 0)", (org,))
            writes.append(org)
            return 1

        for conn in (store.reader, store.db):
            await conn.create_function("other_worker_writes", 0, other_worker_writes)
        read = store.fetch("SELECT other_worker_writes(), id FROM usage_records")
        write = store.insert_usage([_usage("r3", 3.0)])
        rows, _ = await asyncio.gather(read, write)
        assert len(rows) in (2, 3) and writes  # the write may land before the read began
        assert len(await store.fetch("SELECT id FROM usage_records")) == 3
    finally:
        other.close()
        await store.close()


async def test_sqlite_reads_do_not_queue_behind_a_write_waiting_for_the_lock(
    tmp_path: Path,
) -> None:
    """Another worker holds the write lock: this worker's usage insert waits for it (up to
    the busy timeout), and a key look-up meanwhile is answered at once, not after it."""
    store, other = await _sqlite_pair(tmp_path)
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(store.insert_usage([_usage("r1", 1.0)]))
        await asyncio.sleep(0)  # the insert is handed to the database thread, and waits
        rows = await asyncio.wait_for(store.fetch("SELECT COUNT(*) FROM usage_records"), 5)
        assert rows[0][0] == 0 and not write.done()
        other.execute("COMMIT")
        await write
        assert (await store.fetch("SELECT COUNT(*) FROM usage_records"))[0][0] == 1
    finally:
        other.close()
        await store.close()


async def test_sqlite_a_transaction_cancelled_while_waiting_for_the_lock_leaves_none_open(
    tmp_path: Path,
) -> None:
    """A transaction whose caller is cancelled while BEGIN waits for the write lock (a client
    gone, a shutdown): the BEGIN still completes on the database thread later. The next
    transaction must not fail with "cannot start a transaction within a transaction", nor
    run inside the stale one (holding the lock, never committed)."""
    store, other = await _sqlite_pair(tmp_path)
    try:
        other.execute("BEGIN IMMEDIATE")
        first = asyncio.create_task(store.touch_keys({"key_1": 1.0}))
        await asyncio.sleep(0)  # its BEGIN is on the database thread, waiting for the lock
        assert not first.done()
        first.cancel()
        other.execute("COMMIT")  # the cancelled BEGIN now gets the lock
        with pytest.raises(asyncio.CancelledError):
            await first
        await store.insert_usage([_usage("r1", 1.0)])
        await store.touch_keys({"key_1": 2.0})
        seen = other.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0]
        assert seen == 1  # committed: another connection sees it
    finally:
        other.close()
        await store.close()
