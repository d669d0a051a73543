"""The benchmark harness starts several workers as `aigw serve --workers N` does, metrics
shared through prometheus-client's multiprocess files included: otherwise a `--workers 2`
figure would measure a gateway nobody runs."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from aigw.bench import harness
from aigw.observability.multiproc import ENV
from tests.helpers_observability import Scrape

N = 40


async def _post_each_on_a_new_connection(url: str) -> None:
    body = {"model": harness.BENCH_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(N):  # a fresh connection each time lets the kernel pick a worker
        async with (
            aiohttp.ClientSession() as s,
            s.post(url + "/chat/completions", json=body) as r,
        ):
            assert r.status == 200


def test_two_workers_share_their_metrics_and_clean_up(tmp_path: Path) -> None:
    assert ENV not in os.environ
    mock = harness.start_mock()
    gw = harness.start_gateway(mock.url, workers=2, data_dir=str(tmp_path))
    try:
        assert gw.metrics_dir is not None and len(gw.pids) == 2
        mp_dir = gw.metrics_dir.path
        # Only these workers write there: later children (and this process) go without.
        assert ENV not in os.environ
        asyncio.run(harness.wait_ready(mock))
        asyncio.run(harness.wait_ready(gw))
        asyncio.run(_post_each_on_a_new_connection(gw.url))
        with urllib.request.urlopen(gw.url.rsplit("/v1", 1)[0] + "/metrics", timeout=30) as r:
            scrape = Scrape(r.read().decode())
        per_worker = {
            lab["pid"]: v for n, lab, v in scrape.samples if n == "aigw_worker_llm_requests"
        }
        assert set(per_worker) == {str(p) for p in gw.pids}, per_worker
        assert all(v > 0 for v in per_worker.values()), per_worker
        # Whichever worker answered the scrape reports both workers' requests.
        assert scrape.value("llm_requests_total", model=harness.BENCH_MODEL) == N
    finally:
        codes = harness.stop(gw, mock)
    assert codes == [0, 0, 0]
    assert not os.path.exists(mp_dir)


def test_a_callers_metrics_directory_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark run where PROMETHEUS_MULTIPROC_DIR is set (a production shell, say) uses
    a directory of its own: the caller's files are not cleared, nor its variable changed."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "counter_1.db").write_bytes(b"someone else's figures")
    monkeypatch.setenv(ENV, str(theirs))
    mock = harness.start_mock()
    gw = harness.start_gateway(mock.url, workers=2, data_dir=str(tmp_path / "data"))
    try:
        assert gw.metrics_dir is not None and gw.metrics_dir.path != str(theirs)
        assert os.environ[ENV] == str(theirs)
        asyncio.run(harness.wait_ready(mock))
        asyncio.run(harness.wait_ready(gw))
    finally:
        assert harness.stop(gw, mock) == [0, 0, 0]
    assert (theirs / "counter_1.db").read_bytes() == b"someone else's figures"
    assert os.environ[ENV] == str(theirs)


def test_one_worker_keeps_its_metrics_in_memory(tmp_path: Path) -> None:
    mock = harness.start_mock()
    gw = harness.start_gateway(mock.url, workers=1, data_dir=str(tmp_path))
    try:
        assert gw.metrics_dir is None and ENV not in os.environ
        asyncio.run(harness.wait_ready(mock))  # a child stopped before it is up dies
        asyncio.run(harness.wait_ready(gw))  # of the signal: exit code -15, not 0
    finally:
        assert harness.stop(gw, mock) == [0, 0]


def test_ready_means_every_worker_serves(tmp_path: Path) -> None:
    """One answer behind a shared port shows only that one worker is up: the harness waits
    for each worker to say so, and then every one of them stops cleanly (exit code 0, where
    a worker signalled while still starting dies of the signal)."""
    mock = harness.start_mock()
    gw = harness.start_gateway(mock.url, workers=2, data_dir=str(tmp_path))
    try:
        asyncio.run(harness.wait_ready(gw))
        assert len(gw.started) == 2 and all(e.is_set() for e in gw.started)
    finally:
        assert harness.stop(gw, mock) == [0, 0, 0]


def test_a_worker_that_cannot_start_is_reported_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    mock = harness.start_mock()
    gw = harness.start_gateway(mock.url, workers=2, data_dir=f"{blocker}/data")
    try:
        began = time.monotonic()
        with pytest.raises(RuntimeError, match=r"^aigw exited \(1\) before serving$"):
            asyncio.run(harness.wait_ready(gw, timeout=60))
        assert time.monotonic() - began < 30  # not the timeout: the exit itself
    finally:
        harness.stop(gw, mock)
