"""The priority queue in front of a deployment's concurrency slots: order, deadlines, and
no slot leaking after cancellations and errors."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI
from aigw.queue.slots import SlotPool
from tests.helpers_routing import routed_config, until

ONE_SLOT = {"gpt-test": {"provider": "mock", "model": "upstream-model", "max_concurrency": 1}}
DEP = "mock/upstream-model"


def _msgs(tag: str) -> list[dict]:
    return [{"role": "user", "content": tag}]


async def _post(g, tag: str, headers: dict | None = None, stream: bool = False, key=None):
    body = {"model": "gpt-test", "messages": _msgs(tag), "stream": stream}
    headers = dict(headers or {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    async with g.http.post(g.url + "/v1/chat/completions", json=body, headers=headers) as r:
        return r.status, await r.read(), r.headers


async def _keyed_gateway(mock: MockOpenAI, start_gateway, tmp_path, **keys: dict):
    """A gateway with auth required (real API keys in a SQLite store); returns it and the
    plain keys by name, created with the given fields (priority, may_set_priority)."""
    cfg = routed_config(mock.url, ONE_SLOT)
    cfg["database"] = f"sqlite:///{tmp_path}/store.db"
    cfg["auth"] = {"required": True}
    g = await start_gateway(cfg)
    made = {}
    for name, fields in keys.items():
        plain, _ = await g.gateway.accounts.keys.create("org-q", name=name, **fields)
        made[name] = plain
    return g, made


def _snap(g) -> dict:
    return g.gateway.dispatcher.snapshot()[DEP]


def _pool(g) -> SlotPool:
    return g.gateway.dispatcher.states[DEP].slots


def _order(mock: MockOpenAI) -> list[str]:
    return [c["body"]["messages"][0]["content"] for c in mock.calls]


async def test_high_priority_goes_first_fifo_within_a_priority(
    mock: MockOpenAI, start_gateway, tmp_path
):
    g, keys = await _keyed_gateway(mock, start_gateway, tmp_path, ops={"may_set_priority": True})
    key = keys["ops"]
    mock.hold = asyncio.Event()
    first = asyncio.create_task(_post(g, "first", key=key))
    await until(lambda: mock.active == 1)
    tasks = [first]
    for i, (tag, prio) in enumerate(
        [("low", 1), ("high-a", 10), ("mid", 5), ("high-b", 10), ("none", None)]
    ):
        h = {"x-aigw-priority": str(prio)} if prio is not None else {}
        tasks.append(asyncio.create_task(_post(g, tag, h, key=key)))
        await until(lambda n=i + 1: _snap(g)["queued"] == n)
    mock.hold.set()
    results = await asyncio.gather(*tasks)
    assert all(r[0] == 200 for r in results)
    assert _order(mock) == ["first", "high-a", "high-b", "mid", "low", "none"]
    assert _snap(g)["in_flight"] == 0 and _snap(g)["queued"] == 0 and _pool(g).in_use == 0


async def test_priority_header_is_ignored_without_the_right(
    mock: MockOpenAI, start_gateway, tmp_path
):
    g, keys = await _keyed_gateway(mock, start_gateway, tmp_path, app={})
    key = keys["app"]
    mock.hold = asyncio.Event()
    tasks = [asyncio.create_task(_post(g, "first", key=key))]
    await until(lambda: mock.active == 1)
    tasks.append(asyncio.create_task(_post(g, "a", key=key)))
    await until(lambda: _snap(g)["queued"] == 1)
    tasks.append(asyncio.create_task(_post(g, "b", {"x-aigw-priority": "99"}, key=key)))
    await until(lambda: _snap(g)["queued"] == 2)
    mock.hold.set()
    await asyncio.gather(*tasks)
    assert _order(mock) == ["first", "a", "b"]


async def test_key_tier_priority_orders_the_queue(mock: MockOpenAI, start_gateway, tmp_path):
    g, keys = await _keyed_gateway(
        mock, start_gateway, tmp_path, gold={"priority": 9}, free={"priority": 0}
    )
    mock.hold = asyncio.Event()
    tasks = [asyncio.create_task(_post(g, "first", key=keys["free"]))]
    await until(lambda: mock.active == 1)
    for i, tag in enumerate(["free", "gold"]):
        tasks.append(asyncio.create_task(_post(g, tag, key=keys[tag])))
        await until(lambda n=i + 1: _snap(g)["queued"] == n)
    mock.hold.set()
    await asyncio.gather(*tasks)
    assert _order(mock) == ["first", "gold", "free"]


@pytest.mark.parametrize("status", [503, 429])
async def test_deadline_rejects_instead_of_hanging(mock: MockOpenAI, start_gateway, status):
    g = await start_gateway(
        routed_config(mock.url, ONE_SLOT, queue={"max_wait": "60s", "reject_status": status})
    )
    mock.hold = asyncio.Event()
    first = asyncio.create_task(_post(g, "first"))
    await until(lambda: mock.active == 1)
    code, body, headers = await asyncio.wait_for(_post(g, "late", {"x-aigw-timeout": "150ms"}), 10)
    assert code == status
    assert b"queue_timeout" in body
    assert int(headers["Retry-After"]) >= 1
    mock.hold.set()
    assert (await first)[0] == 200
    assert _order(mock) == ["first"]
    assert _snap(g)["queue_rejected"] == 1
    assert _pool(g).in_use == 0 and _snap(g)["queued"] == 0


async def test_config_max_wait_is_the_default_deadline(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, ONE_SLOT, queue={"max_wait": "100ms"}))
    mock.hold = asyncio.Event()
    first = asyncio.create_task(_post(g, "first"))
    await until(lambda: mock.active == 1)
    code, _, _ = await asyncio.wait_for(_post(g, "late"), 10)
    assert code == 503
    mock.hold.set()
    await first


async def test_bad_timeout_header_is_400(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, ONE_SLOT))
    code, body, _ = await _post(g, "x", {"x-aigw-timeout": "soon"})
    assert code == 400 and b"x-aigw-timeout" in body


async def test_no_slot_leaks_after_cancellations_and_errors(mock: MockOpenAI, start_gateway):
    two = {"gpt-test": {"provider": "mock", "model": "upstream-model", "max_concurrency": 2}}
    g = await start_gateway(routed_config(mock.url, two))
    pool = _pool(g)
    mock.hold = asyncio.Event()
    # two in flight, three queued; then every client goes away
    tasks = [asyncio.create_task(_post(g, f"c{i}")) for i in range(5)]
    await until(lambda: mock.active == 2 and _snap(g)["queued"] == 3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await until(lambda: _snap(g)["in_flight"] == 0 and _snap(g)["queued"] == 0)
    await until(lambda: pool.in_use == 0)
    mock.hold = None

    # upstream errors (retryable and not), a reset, a stream broken mid-way, a stream whose
    # client leaves after the first chunk
    mock.fail(Fail(500), Fail(400), Fail(reset=True), Fail(200, after_chunks=2))
    for tag in ("e500", "e400", "reset"):
        assert (await _post(g, tag))[0] in (400, 502)
    assert (await _post(g, "midstream", stream=True))[0] == 200
    mock.tokens_per_second = 50
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": _msgs("gone"), "stream": True},
    ) as r:
        await r.content.readline()
        r.close()
    await until(lambda: pool.in_use == 0 and _snap(g)["in_flight"] == 0)
    mock.tokens_per_second = 0

    # and the deployment still serves at full width
    mock.hold = asyncio.Event()
    tasks = [asyncio.create_task(_post(g, f"after{i}")) for i in range(2)]
    await until(lambda: mock.active == 2)
    mock.hold.set()
    assert [r[0] for r in await asyncio.gather(*tasks)] == [200, 200]
    assert pool.in_use == 0 and pool.waiting == 0


async def test_slot_pool_hands_over_and_survives_cancel_races() -> None:
    pool = SlotPool("d", 1)
    import time

    far = time.monotonic() + 60
    await pool.acquire(0, far)
    waiter = asyncio.create_task(pool.acquire(0, far))
    await asyncio.sleep(0)
    assert pool.waiting == 1
    pool.release()  # handed to the waiter...
    waiter.cancel()  # ...which is cancelled in the same instant
    await asyncio.gather(waiter, return_exceptions=True)
    assert pool.in_use == 0  # passed on, not lost
    assert await pool.acquire(0, far) == 0.0
    pool.release()
    assert pool.in_use == 0


async def test_sdk_sees_a_retryable_status(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, ONE_SLOT, queue={"max_wait": "50ms"}))
    mock.hold = asyncio.Event()
    first = asyncio.create_task(_post(g, "first"))
    await until(lambda: mock.active == 1)
    with pytest.raises(openai.InternalServerError) as ei:
        await g.openai().chat.completions.create(model="gpt-test", messages=_msgs("x"))
    assert ei.value.status_code == 503
    mock.hold.set()
    await first


async def test_unlimited_deployment_has_no_queue(gw, mock: MockOpenAI):
    snap = gw.gateway.dispatcher.snapshot()["mock/upstream-model"]
    assert snap["limit"] is None and snap["queued"] == 0
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-test", "messages": _msgs("x")},
            headers={"x-aigw-timeout": "1ms"},  # nothing to wait for: no effect
        ) as r,
    ):
        assert r.status == 200
