"""Batches across processes: a gateway SIGKILLed half-way through a batch is restarted and
the batch completes with each custom_id exactly once; two gateways on one PostgreSQL share a
batch with no line run twice. Real `aigw serve` processes, a mock OpenAI on loopback."""

from __future__ import annotations

import collections
import signal
from pathlib import Path
from typing import Any

import aiohttp

from aigw import config as configmod
from aigw.bench.mock_upstream import MockOpenAI
from aigw.store import migrations as mig
from aigw.store import open_store
from tests.conftest import mock_config
from tests.helpers_batches import batch_settings, chat_file, parse_jsonl, wait_final
from tests.helpers_limits import until
from tests.procs import ServeProcess

N = 300


async def _create(http: aiohttp.ClientSession, url: str, data: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", data, filename="in.jsonl", content_type="application/jsonl")
    async with http.post(url + "/v1/files", data=form) as r:
        assert r.status == 200, await r.text()
        fid = (await r.json())["id"]
    body = {"input_file_id": fid, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    async with http.post(url + "/v1/batches", json=body) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["id"]


def _getter(http: aiohttp.ClientSession, url: str) -> Any:
    async def get(batch_id: str) -> dict[str, Any]:
        async with http.get(url + f"/v1/batches/{batch_id}") as r:
            assert r.status == 200, await r.text()
            return await r.json()

    return get


async def _output(http: aiohttp.ClientSession, url: str, file_id: str) -> list[dict[str, Any]]:
    async with http.get(url + f"/v1/files/{file_id}/content") as r:
        assert r.status == 200
        return parse_jsonl(await r.read())


async def _lines_per_second(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(url + "/metrics") as r:
        text = await r.text()
    return float(
        next(ln.split()[1] for ln in text.splitlines() if ln.startswith("batch_lines_per_second "))
    )


def _asked(mock: MockOpenAI) -> collections.Counter[str]:
    """How many times the upstream was asked each question ("question <i>")."""
    return collections.Counter(c["body"]["messages"][0]["content"] for c in mock.calls)


async def test_sigkilled_gateway_resumes_each_line_once(tmp_path: Path) -> None:
    mock = MockOpenAI(latency=0.01)
    await mock.start()
    cfg = mock_config(mock.url, batches=batch_settings(concurrency=4, lease="1s"))
    a = ServeProcess(cfg, tmp_path)
    try:
        await a.ready()
        async with aiohttp.ClientSession() as http:
            bid = await _create(http, a.url, chat_file(N))
            await until(lambda: mock.count >= N // 3, timeout=60)
            a.proc.send_signal(signal.SIGKILL)
            assert await a.wait() == -signal.SIGKILL
            before = mock.count
            assert before < N  # killed half-way
            b = ServeProcess(cfg, tmp_path)  # same data directory, same SQLite file
            try:
                await b.ready()
                final = await wait_final(_getter(http, b.url), bid, timeout=120)
                assert final["status"] == "completed", final
                assert final["request_counts"] == {"total": N, "completed": N, "failed": 0}
                out = await _output(http, b.url, final["output_file_id"])
            finally:
                await b.stop()
    finally:
        await a.stop()
        await mock.stop()
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(N)]
    asked = _asked(mock)
    assert len(asked) == N
    # At-least-once upstream for the lines in flight at the kill (at most `concurrency`),
    # exactly once for every other line.
    again = [q for q, n in asked.items() if n > 1]
    assert len(again) <= 4 and all(asked[q] == 2 for q in again)
    assert mock.count == N + len(again)


async def test_two_gateways_on_one_postgres_share_a_batch(pg_url: str, tmp_path: Path) -> None:
    store = open_store(configmod.from_dict({"database": pg_url, "data_dir": str(tmp_path)}))
    await store.connect()
    await mig.up(store)
    mock = MockOpenAI(latency=0.005)
    await mock.start()
    cfg = mock_config(mock.url, database=pg_url, batches=batch_settings(concurrency=4))
    gws = [ServeProcess(cfg, tmp_path / "a"), ServeProcess(cfg, tmp_path / "b")]
    try:
        for g in gws:
            await g.ready()
        async with aiohttp.ClientSession() as http:
            bid = await _create(http, gws[0].url, chat_file(N))
            final = await wait_final(_getter(http, gws[1].url), bid, timeout=120)
            assert final["status"] == "completed", final
            out = await _output(http, gws[1].url, final["output_file_id"])
            rates = [await _lines_per_second(http, g.url) for g in gws]
        lines_left = await store.fetch("SELECT COUNT(*) FROM batch_lines")
    finally:
        for g in gws:
            await g.stop()
        await mock.stop()
        await store.close()
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(N)]
    assert set(_asked(mock).values()) == {1} and mock.count == N  # no line twice
    assert all(r > 0 for r in rates), rates  # both instances ran lines
    assert lines_left[0][0] == 0  # a finished batch's lines are gone; its files remain
    assert all(o["response"]["status_code"] == 200 for o in out)


async def test_sigkilled_instance_on_postgres_its_lines_go_to_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    """Two instances on one PostgreSQL; one is SIGKILLed mid-batch: the survivor takes over
    its lines once their leases run out, and the output has each custom_id once."""
    store = open_store(configmod.from_dict({"database": pg_url, "data_dir": str(tmp_path)}))
    await store.connect()
    await mig.up(store)
    await store.close()
    mock = MockOpenAI(latency=0.01)
    await mock.start()
    cfg = mock_config(mock.url, database=pg_url, batches=batch_settings(concurrency=4, lease="1s"))
    a, b = ServeProcess(cfg, tmp_path / "a"), ServeProcess(cfg, tmp_path / "b")
    try:
        await a.ready()
        await b.ready()
        async with aiohttp.ClientSession() as http:
            bid = await _create(http, a.url, chat_file(N))
            await until(lambda: mock.count >= N // 3, timeout=60)
            a.proc.send_signal(signal.SIGKILL)
            await a.wait()
            final = await wait_final(_getter(http, b.url), bid, timeout=120)
            assert final["status"] == "completed", final
            assert final["request_counts"] == {"total": N, "completed": N, "failed": 0}
            out = await _output(http, b.url, final["output_file_id"])
    finally:
        await a.stop()
        await b.stop()
        await mock.stop()
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(N)]
    asked = _asked(mock)
    assert len(asked) == N
    again = [q for q, n in asked.items() if n > 1]
    assert len(again) <= 4 and all(asked[q] == 2 for q in again)


async def test_on_interrupted_fail_runs_no_line_twice(tmp_path: Path) -> None:
    """`on_interrupted: fail`: the lines in flight at the kill go to the error file with
    `interrupted`; no question reaches the upstream twice (at-most-once)."""
    mock = MockOpenAI(latency=0.01)
    await mock.start()
    cfg = mock_config(
        mock.url, batches=batch_settings(concurrency=4, lease="1s", on_interrupted="fail")
    )
    a = ServeProcess(cfg, tmp_path)
    try:
        await a.ready()
        async with aiohttp.ClientSession() as http:
            bid = await _create(http, a.url, chat_file(N))
            await until(lambda: mock.count >= N // 3, timeout=60)
            a.proc.send_signal(signal.SIGKILL)
            await a.wait()
            b = ServeProcess(cfg, tmp_path)
            try:
                await b.ready()
                final = await wait_final(_getter(http, b.url), bid, timeout=120)
                out = await _output(http, b.url, final["output_file_id"])
                err = (
                    await _output(http, b.url, final["error_file_id"])
                    if final["error_file_id"]
                    else []
                )
            finally:
                await b.stop()
    finally:
        await a.stop()
        await mock.stop()
    assert final["status"] == "completed"
    assert set(_asked(mock).values()) == {1}  # at most once upstream
    assert len(err) <= 4 and all(e["error"]["code"] == "interrupted" for e in err)
    ids = sorted(
        [o["custom_id"] for o in out] + [e["custom_id"] for e in err], key=lambda c: int(c[4:])
    )
    assert ids == [f"req-{i}" for i in range(N)]  # each custom_id exactly once
    assert len(out) == final["request_counts"]["completed"]
    # An interrupted line may or may not have reached the upstream before the kill.
    assert len(out) <= mock.count <= len(out) + len(err)


async def test_workers_on_one_sqlite_file_run_a_batch_without_lock_errors(
    tmp_path: Path,
) -> None:
    """`aigw serve --workers 2` on the embedded SQLite: one worker process runs the batch
    work (a file lock; the other takes over if it dies), so the two never fight over the
    file: every line once, and no "database is locked" anywhere."""
    mock = MockOpenAI(latency=0.005)
    await mock.start()
    cfg = mock_config(mock.url, batches=batch_settings(concurrency=4))
    gw = ServeProcess(cfg, tmp_path, "--workers", "2")
    try:
        await gw.ready()
        async with aiohttp.ClientSession() as http:
            bid = await _create(http, gw.url, chat_file(N))
            final = await wait_final(_getter(http, gw.url), bid, timeout=120)
            out = await _output(http, gw.url, final["output_file_id"])
    finally:
        await gw.stop()
        await mock.stop()
    assert final["request_counts"] == {"total": N, "completed": N, "failed": 0}
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(N)]
    assert mock.count == N
    assert "database is locked" not in gw.log_path.read_text(errors="replace")
