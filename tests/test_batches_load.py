"""Batch work fills the capacity interactive traffic leaves: a 2,000-line batch runs while an
interactive load runs, and the interactive p99 stays within a bound of its value without
the batch, both measured in this one run. The deployment has 8 slots and the batch worker
may hold all 8; interactive requests outrank batch lines in the slot queue. The gateway and
the mock upstream run in their own processes, so the measuring client shares its loop with
neither."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.conftest import mock_config
from tests.helpers_batches import batch_settings, chat_file, wait_final
from tests.procs import ServeProcess, free_port
from tests.test_batches_cluster import _create, _getter

LATENCY = 0.02  # the upstream's answer time
CLIENTS = 4  # interactive requests in flight at once
PHASE = 3.0  # seconds of interactive load measured in each phase
LINES = 2000


def p99(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


async def _interactive(http: aiohttp.ClientSession, url: str, seconds: float) -> list[float]:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "interactive"}]}
    out: list[float] = []
    end = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            async with http.post(url + "/v1/chat/completions", json=body) as r:
                await r.read()
                assert r.status == 200
            out.append(time.perf_counter() - t0)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return out


@asynccontextmanager
async def mock_process() -> AsyncIterator[str]:
    """The mock OpenAI upstream in a child process; yields its base URL."""
    port = free_port()
    code = (
        "import asyncio\n"
        "from aigw.bench.mock_upstream import serve_forever\n"
        f"asyncio.run(serve_forever('127.0.0.1', {port}, latency={LATENCY}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(url + "/models") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "mock did not start"
                await asyncio.sleep(0.05)  # polling a starting process, bounded
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_interactive_p99_with_a_batch_running(tmp_path: Path) -> None:
    async with mock_process() as mock_url:
        await _measure(mock_url, tmp_path)


async def _measure(mock_url: str, tmp_path: Path) -> None:
    cfg = mock_config(
        mock_url,
        models={"gpt-test": {"provider": "mock", "model": "upstream-model", "max_concurrency": 8}},
        batches=batch_settings(concurrency=8),
        logging={"level": "warning", "access_log": False},
    )
    gw = ServeProcess(cfg, tmp_path)
    try:
        await gw.ready()
        async with aiohttp.ClientSession() as http:
            await _interactive(http, gw.url, 0.5)  # warm up connections
            alone = await _interactive(http, gw.url, PHASE)
            bid = await _create(http, gw.url, chat_file(LINES))
            deadline = time.monotonic() + 30
            while (await _getter(http, gw.url)(bid))["request_counts"]["completed"] < 50:
                assert time.monotonic() < deadline, "the batch did not start"
                await asyncio.sleep(0.05)  # polling, as a client does: the batch is running
            t_batch = time.monotonic()
            with_batch = await _interactive(http, gw.url, PHASE)
            running = await _getter(http, gw.url)(bid)
            final = await wait_final(_getter(http, gw.url), bid, timeout=120)
            t_done = time.monotonic()
            after = await _interactive(http, gw.url, PHASE)  # alone again: the noise then
    finally:
        await gw.stop()
    # The batch was still running when the measurement ended: it overlapped all of it.
    assert running["status"] == "in_progress", running
    assert running["request_counts"]["completed"] < LINES
    assert final["status"] == "completed"
    assert final["request_counts"] == {"total": LINES, "completed": LINES, "failed": 0}
    # The machine is shared: the load of others drifts. The p99 without the batch is the
    # worse of the phases before and after it.
    base, loaded = max(p99(alone), p99(after)), p99(with_batch)
    lines_per_s = LINES / (final["completed_at"] - final["in_progress_at"] or 1)
    print(
        f"\ninteractive p99 alone {p99(alone) * 1000:.1f} ms before, {p99(after) * 1000:.1f} ms "
        f"after ({len(alone)}, {len(after)} requests), "
        f"with the batch running {loaded * 1000:.1f} ms ({len(with_batch)} requests); "
        f"batch {LINES} lines in {t_done - t_batch:.1f} s after the measurement began, "
        f"{lines_per_s:.0f} lines/s overall"
    )
    # Bound: one upstream answer time (a slot frees within LATENCY) plus 50% for the work of
    # the batch on the same two cores, over the p99 without it.
    assert loaded <= base * 1.5 + LATENCY, (base, loaded)
