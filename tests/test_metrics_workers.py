"""`aigw serve --workers 2`: one scrape reports the sum over both workers."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import aiohttp

from aigw.bench.mock_upstream import DEFAULT_TEXT, MockOpenAI, count_tokens, words
from tests.conftest import mock_config
from tests.helpers_observability import Scrape
from tests.procs import ServeProcess

N = 40
PROMPT = "count me once per request"


async def test_scrape_sums_two_workers(mock: MockOpenAI, tmp_path: Path) -> None:
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    # Left over from an earlier run: must be cleaned, not added (garbage would break the scrape).
    (mp_dir / "counter_999999.db").write_bytes(b"not an mmap file")
    srv = ServeProcess(
        mock_config(mock.url, logging={"level": "warning"}),
        tmp_path,
        "--workers",
        "2",
        env={"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "AIGW_ADMIN_KEY": "adm-workers"},
    )
    try:
        await srv.ready()
        body = {"model": "gpt-test", "messages": [{"role": "user", "content": PROMPT}]}
        for _ in range(N):
            # A fresh connection each time lets the kernel pick a worker.
            async with (
                aiohttp.ClientSession() as s,
                s.post(srv.url + "/v1/chat/completions", json=body) as r,
            ):
                assert r.status == 200
        assert mock.count == N
        async with aiohttp.ClientSession() as s, s.get(srv.url + "/metrics") as r:
            assert r.status == 200
            scrape = Scrape(await r.text())
        # Both workers served some of them (the per-worker figure carries each pid) ...
        per_worker = {
            lab["pid"]: v for n, lab, v in scrape.samples if n == "aigw_worker_llm_requests"
        }
        assert len(per_worker) == 2 and all(v > 0 for v in per_worker.values()), per_worker
        assert str(os.getpid()) not in per_worker
        assert sum(per_worker.values()) == N
        # ... and whichever answered the scrape reports the sum.
        chat = "/v1/chat/completions"
        assert scrape.value("http_requests_total", route=chat, status_class="2xx") == N
        assert scrape.value("llm_requests_total", model="gpt-test") == N
        assert scrape.value("llm_tokens_total", direction="input") == N * count_tokens(PROMPT)
        assert scrape.value("llm_tokens_total", direction="output") == N * len(words(DEFAULT_TEXT))
        assert scrape.value("http_request_duration_seconds_count", route=chat) == N
        assert scrape.value("llm_upstream_requests_total", status_class="2xx") == N
        assert scrape.value("http_requests_in_flight") == 1  # the scrape itself
        # Scrape-time gauges reach the sum too (published by each worker).
        deps = {lab["deployment"] for lab in scrape.series("breaker_state")}
        assert deps == {"mock/upstream-model", "mock/upstream-embed"}
        assert scrape.value("breaker_state") == 0
        assert not (mp_dir / "counter_999999.db").exists()
        # The admin summary reads the same merged figures.
        async with (
            aiohttp.ClientSession() as s,
            s.get(
                srv.url + "/v1/admin/metrics", headers={"Authorization": "Bearer adm-workers"}
            ) as r,
        ):
            assert r.status == 200
            summary = await r.json()
        assert summary["requests"]["total"] == N
        assert summary["tokens"]["output"] == N * len(words(DEFAULT_TEXT))
        assert summary["providers"]["mock"]["attempts"] == N
    finally:
        assert await srv.stop() == 0
    # The dead workers' live gauges left the directory; the counters stay for a last scrape.
    assert glob.glob(str(mp_dir / "gauge_live*")) == []
    assert glob.glob(str(mp_dir / "counter_*.db"))
