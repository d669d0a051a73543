"""Usage records and cost, on SQLite and PostgreSQL: streamed and non-streamed requests,
errors, cache savings, and the spool that keeps every record through an outage."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from aigw import config as configmod
from aigw.billing.cost import Pricer, usage_cost
from aigw.billing.prices import Price, shipped_price
from aigw.pipeline import RequestContext
from aigw.store import Store, StoreUnavailable
from aigw.store.usage_writer import UsageWriter
from aigw.types import Principal, Usage
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import accounts_config, new_key

MSGS = [{"role": "user", "content": "one two three four five"}]
PRICES = {"gpt-test": {"input": 3.0, "output": 15.0, "cached_input": 0.3}}


def expected_cost(prompt: int, completion: int) -> float:
    return (prompt * 3.0 + completion * 15.0) / 1e6


async def test_streamed_and_plain_requests_record_tokens_and_cost(
    store: Store, db_url: str, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url, billing={"prices": PRICES}))
    k = await new_key(gw, admin, user="bob")
    client = gw.openai(k["key"])

    raw = await client.chat.completions.with_raw_response.create(model="gpt-test", messages=MSGS)
    plain_id = raw.headers["x-request-id"]
    plain = raw.parse()
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=MSGS,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Request-ID": "stream-req-1"},
    )
    streamed_usage = None
    async for chunk in stream:
        if chunk.usage:
            streamed_usage = chunk.usage
    assert streamed_usage is not None
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="nope", messages=MSGS, extra_headers={"X-Request-ID": "err-req-1"}
        )

    assert await gw.gateway.accounts.usage.flush()
    for rid, u, stream_flag in (
        (plain_id, plain.usage, False),
        ("stream-req-1", streamed_usage, True),
    ):
        (row,) = await store.usage_rows(rid)
        assert row["prompt_tokens"] == u.prompt_tokens > 0
        assert row["completion_tokens"] == u.completion_tokens > 0
        assert row["cost_usd"] == pytest.approx(
            expected_cost(u.prompt_tokens, u.completion_tokens), rel=1e-9
        )
        assert (row["org_id"], row["key_id"], row["user_id"]) == ("acme", k["id"], "bob")
        assert (row["model"], row["provider"], row["deployment"]) == (
            "gpt-test",
            "mock",
            "mock/upstream-model",
        )
        assert row["status"] == 200 and row["latency_ms"] > 0, stream_flag
    (err,) = await store.usage_rows("err-req-1")
    assert err["status"] == 404 and err["cost_usd"] == 0 and err["prompt_tokens"] == 0
    keys = await store.list_keys("acme")
    assert keys[0].last_used_at is not None  # touched by the writer, not per request


def test_pricing_rules() -> None:
    assert shipped_price("gpt-4o-2024-08-06") == shipped_price("gpt-4o")
    assert shipped_price("claude-3-5-sonnet-20241022") == shipped_price("claude-3-5-sonnet")
    assert shipped_price("no-such-model") is None
    p = Price.of(2.0, 8.0, 0.5, 2.5)
    u = Usage(
        prompt_tokens=1000, completion_tokens=100, cached_tokens=400, cache_creation_tokens=100
    )
    assert usage_cost(u, p) == pytest.approx((500 * 2 + 400 * 0.5 + 100 * 2.5 + 100 * 8) / 1e6)

    cfg = configmod.from_dict(
        {
            "providers": {"p": {"type": "openai", "base_url": "http://x"}},
            "models": {
                "cheap": {"provider": "p", "model": "gpt-4o-mini"},
                "fixed": {"provider": "p", "model": "whatever", "price": {"input": 1, "output": 1}},
                "mine": {"provider": "p", "model": "custom"},
            },
            "billing": {"prices": {"mine": {"input": 10, "output": 20}}},
        }
    )
    pr = Pricer(cfg)
    assert pr.price("p/gpt-4o-mini", "cheap") == shipped_price("gpt-4o-mini")
    assert pr.price("p/whatever", "fixed") == Price.of(1, 1)
    assert pr.price("p/custom", "mine") == Price.of(10, 20)
    assert pr.price(None, "mine") == Price.of(10, 20)  # a cache hit has no deployment

    # A cache hit costs nothing and records what it saved.
    ctx = RequestContext("r", "chat", {}, {}, "mine", principal=Principal())
    ctx.usage = Usage(prompt_tokens=1000, completion_tokens=500)
    ctx.cache = "hit"
    assert pr.cost_of(ctx) == (0.0, pytest.approx((1000 * 10 + 500 * 20) / 1e6))
    ctx2 = RequestContext("r", "chat", {}, {}, "mine", principal=Principal())
    ctx2.usage, ctx2.deployment = Usage(prompt_tokens=1000, completion_tokens=500), "p/custom"
    assert pr.cost_of(ctx2) == (pytest.approx(0.02), 0.0)


def _rec(i: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "request_id": f"r{i}",
        "ts": time.time(),
        "org_id": "acme",
        "user_id": None,
        "key_id": None,
        "endpoint": "chat",
        "model": "m",
        "provider": None,
        "deployment": None,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cached_tokens": 0,
        "cost_usd": 0.001,
        "saved_usd": 0.0,
        "latency_ms": 1.0,
        "cache": None,
        "status": 200,
    }


class FlakyStore:
    """The real store, with a switch that makes it fail like a database that is down."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.inserts = 0
        self.batches: list[int] = []  # rows per insert, in order

    async def insert_usage(self, records: Any) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.inserts += 1
        self.batches.append(len(records))
        await self.inner.insert_usage(records)

    async def touch_keys(self, last_used: Any) -> None:
        if self.down:
            raise StoreUnavailable("down")
        await self.inner.touch_keys(last_used)


async def test_spool_survives_outage_crash_and_double_replay(store: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    flaky = FlakyStore(store)
    w = UsageWriter(flaky, spool, batch_size=10, flush_interval=3600)  # flush by hand
    await w.start()
    for i in range(5):
        w.enqueue(_rec(i))
    assert await w.flush()
    flaky.down = True
    for i in range(5, 30):
        w.enqueue(_rec(i))
    assert not await w.flush()  # down: spooled on disk, nothing kept in memory
    assert w.backlog_records() == 25 and w._current is not None and w._current.records == []
    for i in range(30, 40):
        w.enqueue(_rec(i))
    w._write_lines()  # the loop turn ends: its records are journalled, in one write
    # A crash: the process dies without flushing (its fds close with it).
    os.close(w._current.fd)
    w._task.cancel()  # type: ignore[union-attr]
    flaky.down = False

    # The next process replays everything left behind, and a replay of an already-inserted
    # file (a crash between insert and delete) stores nothing twice.
    leftover = sorted(spool.glob("usage-*.jsonl"))
    assert len(leftover) >= 2
    dup = spool / "usage-00000000000000000001-1-000001.jsonl"
    dup.write_bytes(leftover[0].read_bytes())
    (spool / "usage-00000000000000000002-1-000001.jsonl").write_bytes(b'{"id": "torn", "requ')
    w2 = UsageWriter(flaky, spool, batch_size=10, flush_interval=3600)
    await w2.start()
    assert await w2.flush()
    await w2.stop()
    rows = await store.usage_rows()
    assert sorted(r["request_id"] for r in rows) == sorted(f"r{i}" for i in range(40))
    assert list(spool.glob("usage-*.jsonl")) == []


async def test_memory_stays_bounded_when_the_database_is_slow(store: Store, tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    w = UsageWriter(flaky, tmp_path / "spool", batch_size=10, flush_interval=3600)
    await w.start()
    for i in range(1000):  # no flush got to run: the writer stops keeping copies
        w.enqueue(_rec(i))
    assert w._current is not None and len(w._current.records) <= 40
    assert await w.flush()
    await w.stop()
    assert len(await store.usage_rows()) == 1000
    assert sum(flaky.batches) == 1000 and max(flaky.batches) <= 10


def test_a_spooled_segment_is_read_back_a_batch_at_a_time(tmp_path: Path) -> None:
    """A segment spooled while the database lagged can hold minutes of records: the replay
    reads it batch by batch (bounded memory), skipping a torn line, never all at once."""
    from aigw.store.usage_writer import _read_batch

    seg = tmp_path / "usage-1.jsonl"
    lines = [orjson.dumps(_rec(i)) for i in range(25)]
    seg.write_bytes(b"\n".join([*lines[:12], b'{"id": "torn", "requ', *lines[12:]]) + b"\n")
    with open(seg, "rb") as f:
        sizes, ids = [], []
        while batch := _read_batch(f, seg, 10):
            sizes.append(len(batch))
            ids += [r["request_id"] for r in batch]
    assert sizes == [10, 10, 5] and ids == [f"r{i}" for i in range(25)]


async def test_snapshot_reports_backlog_and_spool_for_the_metrics(
    store: Store, tmp_path: Path
) -> None:
    flaky = FlakyStore(store)
    w = UsageWriter(flaky, tmp_path / "spool", batch_size=10, flush_interval=3600)
    await w.start()
    try:
        assert w.snapshot() == {"backlog": 0.0, "spool_bytes": 0.0}
        for i in range(3):
            w.enqueue(_rec(i))
        snap = w.snapshot()
        assert snap["backlog"] == 3 and snap["spool_bytes"] > 0
        flaky.down = True
        assert not await w.flush()
        assert w.snapshot()["backlog"] == 3  # spooled, not in the database
        flaky.down = False
        w._retry_at = 0.0  # skip the back-off before the next attempt at the database
        assert await w.flush()
        assert w.snapshot() == {"backlog": 0.0, "spool_bytes": 0.0}
    finally:
        await w.stop()


async def test_background_flush_inserts_in_small_paced_transactions(
    store: Store, tmp_path: Path
) -> None:
    flaky = FlakyStore(store)
    w = UsageWriter(flaky, tmp_path / "spool", flush_interval=3600, paced_rows=50)
    await w.start()
    for i in range(120):
        w.enqueue(_rec(i))
    assert await w.flush(paced=True)  # what the background task does
    assert flaky.batches == [50, 50, 20]
    for i in range(120, 240):
        w.enqueue(_rec(i))
    assert await w.flush()  # shutdown and explicit flushes: one batch, no pauses
    assert flaky.batches[3:] == [120]
    await w.stop()
    assert len(await store.usage_rows()) == 240


async def test_pacing_never_holds_a_flush_past_half_its_interval(
    store: Store, tmp_path: Path
) -> None:
    flaky = FlakyStore(store)
    # Pauses of a minute, but a flush interval of 0.2 s: after 0.1 s the rest goes at once.
    w = UsageWriter(flaky, tmp_path / "spool", flush_interval=0.2, paced_rows=10, paced_pause=60)
    await w.start()
    for i in range(100):
        w.enqueue(_rec(i))
    t0 = time.monotonic()
    assert await w.flush(paced=True)
    assert time.monotonic() - t0 < 30  # one pause of 60 s would have failed this
    assert flaky.batches == [10] * 10
    await w.stop()


async def test_stop_during_a_paced_flush_loses_nothing(store: Store, tmp_path: Path) -> None:
    flaky = FlakyStore(store)
    # A paced flush of 400 rows would take 20 x 0.5 s; SIGTERM arrives after its first chunk.
    w = UsageWriter(
        flaky, tmp_path / "spool", batch_size=400, flush_interval=60, paced_rows=20,
        paced_pause=0.5,
    )  # fmt: skip
    await w.start()
    for i in range(400):  # reaching batch_size wakes the background flush
        w.enqueue(_rec(i))
    deadline = time.monotonic() + 10
    while not flaky.batches:  # the background flush has begun inserting
        assert time.monotonic() < deadline, "the background flush never started"
        await asyncio.sleep(0.005)
    t0 = time.monotonic()
    await w.stop()
    assert time.monotonic() - t0 < 5  # the rest went without pauses
    assert len(await store.usage_rows()) == 400  # all of it in the database
    assert list((tmp_path / "spool").glob("usage-*.jsonl")) == []


async def test_an_unexpected_insert_error_leaves_the_segment_for_the_next_flush(
    store: Store, tmp_path: Path
) -> None:
    class Broken(FlakyStore):
        fail_once = True

        async def insert_usage(self, records: Any) -> None:
            if self.fail_once:
                self.fail_once = False
                raise RuntimeError("a bug, not an outage")
            await super().insert_usage(records)

    w = UsageWriter(Broken(store), tmp_path / "spool", flush_interval=3600)
    await w.start()
    for i in range(5):
        w.enqueue(_rec(i))
    with pytest.raises(RuntimeError):
        await w.flush()
    assert await w.flush()  # the segment was closed, not left locked: replayed now
    await w.stop()
    assert len(await store.usage_rows()) == 5
