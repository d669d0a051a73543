"""The load generator against real servers on loopback: counts, errors by status, streams,
gateway overhead, and the open loop's defence against coordinated omission."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest
from aiohttp import web

from aigw.bench import report
from aigw.bench.loadgen import LoadConfig, LoadGenerator, RequestPlan, compare, run_load, schedule
from aigw.bench.mock_upstream import Fail, MockOpenAI
from tests.conftest import mock_config


async def test_closed_loop_counts_every_request(mock: MockOpenAI) -> None:
    r = await run_load(LoadConfig(url=mock.url, concurrency=4, requests=40))
    d = r.to_dict()
    assert d["requests"] == 40 and d["ok"] == 40 and d["errors"] == {}
    assert d["latency_ms"]["count"] == 40
    assert 0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p99"] <= d["latency_ms"]["max"]
    assert mock.count == 40
    assert d["gateway_overhead_ms"] is None  # the mock sends no x-aigw-upstream-ms


async def test_errors_are_counted_by_status(mock: MockOpenAI) -> None:
    mock.fail(Fail(429), Fail(503), Fail(503))
    r = await run_load(LoadConfig(url=mock.url, concurrency=1, requests=10))
    assert dict(r.stats.errors) == {"429": 1, "503": 2}
    assert r.stats.ok == 7
    assert r.stats.latency.get_total_count() == 7  # failures do not pollute the latencies


async def test_connection_errors_are_counted() -> None:
    r = await run_load(LoadConfig(url="http://127.0.0.1:1/v1", concurrency=2, requests=4))
    assert r.stats.ok == 0
    assert sum(r.stats.errors.values()) == 4
    assert "ClientConnectorError" in r.stats.errors


async def test_stream_timings(mock: MockOpenAI) -> None:
    r = await run_load(LoadConfig(url=mock.url, concurrency=2, requests=6, scenario="stream"))
    s = r.stats
    assert s.ok == 6
    assert s.ttfc.get_total_count() == 6 and s.ttft.get_total_count() == 6
    # role chunk + one per word + finish chunk + [DONE]: every event after the first is a gap
    events = 1 + len(mock.text.split(" ")) + 1 + 1
    assert s.gaps.get_total_count() == 6 * (events - 1)
    assert s.ttfc.get_value_at_percentile(50) <= s.ttft.get_value_at_percentile(50)
    assert all(c["body"]["stream"] is True for c in mock.calls)


async def test_gateway_overhead_from_upstream_header(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url))
    r = await run_load(LoadConfig(url=gw.url + "/v1", model="gpt-test", concurrency=2, requests=20))
    assert r.stats.ok == 20
    assert r.stats.overhead.get_total_count() == 20
    # overhead = total - upstream time, so it is below the total latency
    assert r.stats.overhead.get_max_value() <= r.stats.latency.get_max_value()
    # the gateway forwarded each (unique) prompt to the mock
    assert mock.count == 20
    assert len({orjson.dumps(c["body"]["messages"]) for c in mock.calls}) == 20


async def test_stream_overhead_to_first_byte(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url))
    r = await run_load(
        LoadConfig(url=gw.url + "/v1", model="gpt-test", concurrency=2, requests=4, stream=True)
    )
    assert r.stats.ok == 4
    assert r.stats.ttfb_overhead.get_total_count() == 4


async def _stalling_server(release_after: int) -> tuple[web.AppRunner, str, list[float]]:
    """Answers nothing until `release_after` requests are waiting, then answers them all."""
    arrived: list[float] = []
    gate = asyncio.Event()

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        arrived.append(asyncio.get_running_loop().time())
        if len(arrived) >= release_after:
            gate.set()
        await gate.wait()
        return web.json_response({"choices": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1", arrived


async def test_open_loop_schedule_is_not_slowed_by_a_stalled_server() -> None:
    # A closed loop with one connection would deadlock here: the server answers only once
    # all 8 requests are in. The open loop sends them on schedule regardless.
    n, rate = 8, 100.0
    runner, url, arrived = await _stalling_server(release_after=n)
    try:
        r = await asyncio.wait_for(run_load(LoadConfig(url=url, rate=rate, requests=n)), 30)
    finally:
        await runner.cleanup()
    assert r.stats.ok == n and len(arrived) == n
    # The first request waited (at least) until the last one was sent, (n-1)/rate later, and
    # latency counts from the scheduled time, so its wait shows in the maximum.
    assert r.stats.latency.get_max_value() >= (n - 1) / rate * 1_000_000 * 0.95
    assert r.stats.schedule_lag.get_total_count() == n


async def test_open_loop_counts_queueing_from_the_schedule() -> None:
    # One connection, a server that takes 50 ms, requests due every 10 ms: each later request
    # waits for the pool. Measured from send, all would look like 50 ms; from the schedule,
    # the last of 5 waited for the 4 before it.
    mock = MockOpenAI(latency=0.05, quiet_calls=True)
    await mock.start()
    try:
        r = await run_load(LoadConfig(url=mock.url, rate=100, requests=5, max_connections=1))
    finally:
        await mock.stop()
    assert r.stats.ok == 5
    assert r.stats.latency.get_max_value() >= 0.05 * 5 * 1_000_000 - 0.01 * 4 * 1_000_000
    assert r.stats.latency.get_value_at_percentile(0) >= 50_000


async def test_duration_bounds_a_closed_loop(mock: MockOpenAI) -> None:
    r = await run_load(LoadConfig(url=mock.url, concurrency=2, duration=0.3))
    assert r.stats.ok > 0 and r.elapsed >= 0.3
    assert r.requests == mock.count


async def test_compare_alternates_and_gives_ratios(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, models={"gpt-bench": {"provider": "mock"}}))
    a = LoadConfig(url=gw.url + "/v1", concurrency=2, requests=20)
    b = LoadConfig(url=mock.url, concurrency=2, requests=20)
    ra, rb = await compare(a, b, rounds=2)
    assert ra.requests == 20 and rb.requests == 20
    assert ra.stats.overhead.get_total_count() == 20  # merged across both rounds
    rt = report.ratios(ra.to_dict(), rb.to_dict())
    assert rt["throughput"] == pytest.approx(rb.throughput / ra.throughput, rel=0.01)
    assert rt["added_p50_ms"] is not None


def test_request_plan_scenarios() -> None:
    miss = RequestPlan("m", scenario="miss")
    bodies = [orjson.loads(miss.request(i).body) for i in range(20)]
    assert len({b["messages"][0]["content"] for b in bodies}) == 20  # all unique
    assert miss.warmup() == []

    hit = RequestPlan("m", scenario="exact-hit")
    assert {hit.request(i).body for i in range(10)} == {hit.warmup()[0].body}

    sem = RequestPlan("m", scenario="semantic-hit")
    hot = orjson.loads(sem.warmup()[0].body)["messages"][0]["content"]
    sem_bodies = [orjson.loads(sem.request(i).body) for i in range(500)]
    variants = {b["messages"][0]["content"] for b in sem_bodies}
    assert hot not in variants and len(variants) == 500  # never an exact hit
    same_words = {" ".join(v.split()).rstrip("?! ") for v in variants}
    assert same_words == {hot.rstrip("?")}  # the same words in the same order
    assert all(b["temperature"] == 0 for b in sem_bodies)  # cacheable (deterministic)
    assert "temperature" not in bodies[0]  # misses are left as the client would send them

    mixed = RequestPlan("m", scenario="mixed")
    kinds = [mixed.request(i).kind for i in range(200)]
    assert kinds.count("exact-hit") == 100 and kinds.count("stream") == 30
    assert all(mixed.request(i).stream == (kinds[i] == "stream") for i in range(40))
    with pytest.raises(ValueError):
        RequestPlan("m", scenario="nope")


def test_schedule_is_computed_ahead() -> None:
    assert schedule(4, 4) == [0.0, 0.25, 0.5, 0.75]
    p = schedule(100, 2000, "poisson")
    assert all(b >= a for a, b in itertools.pairwise(p))
    assert p[-1] / 1999 == pytest.approx(0.01, rel=0.1)  # mean gap 1/rate
    assert schedule(100, 50, "poisson") == schedule(100, 50, "poisson")  # reproducible


def test_config_checks() -> None:
    for bad in (
        LoadConfig(url="u", requests=1),  # neither concurrency nor rate
        LoadConfig(url="u", concurrency=1, rate=5, requests=1),
        LoadConfig(url="u", concurrency=1),  # unbounded
        LoadConfig(url="u", rate=-1, requests=1),
    ):
        with pytest.raises(ValueError):
            LoadGenerator(bad)


def test_markdown_table() -> None:
    md = report.markdown_table(
        ["target", "req/s", "p50"], [["aigw", 6543.21, 1.234], ["x", None, 2]]
    )
    assert md.splitlines() == [
        "| target | req/s | p50 |",
        "|---|---|---|",
        "| aigw | 6,543 | 1.23 |",
        "| x | - | 2 |",
    ]
