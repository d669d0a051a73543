"""Per-request cost of observability, measured in-process (no network, no noise from it).

    .venv/bin/python scripts/bench_observability.py [--n 100000] [--e2e]

Prints microseconds per request for: the metrics recorded at the end of a request (single
process, and multi-worker mmap mode), the observability stage with tracing off, and with
tracing on (spans created and dropped, no exporter). `--e2e` also runs real requests through
a gateway in front of the mock upstream, client and servers in this one process, and reports
the CPU time per request with observability off, metrics on, and tracing at 10% and 100%
(medians of 5 alternations: CPU time is less sensitive than wall time to a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import aigw.config  # noqa: F401  (first: the settings modules import it)
from aigw.observability.settings import MetricsSettings, TracingSettings
from aigw.pipeline import JSONResult, RequestContext, compose
from aigw.types import Usage


class _Resource:  # hashable, like aiohttp's resources
    canonical = "/v1/chat/completions"


def fake_request() -> SimpleNamespace:
    resource = _Resource()
    return SimpleNamespace(
        method="POST", match_info=SimpleNamespace(route=SimpleNamespace(resource=resource))
    )


def ctx() -> RequestContext:
    c = RequestContext("req_1", "chat", {"model": "gpt-test", "messages": []}, {}, "gpt-test")
    c.usage = Usage(12, 30)
    c.provider, c.deployment, c.upstream_model = "openai", "openai/gpt-4o-mini", "gpt-4o-mini"
    c.upstream_ms, c.attempts, c.cost, c.cache = 120.0, 1, 0.00042, "miss"
    return c


def bench_metrics(n: int) -> float:
    from aigw.observability.metrics import Metrics

    m = Metrics(MetricsSettings(), ["gpt-test"])
    req, c = fake_request(), ctx()
    t0 = time.perf_counter()
    c.status = 200
    for _ in range(n):  # what one answered request records: HTTP, attempt, LLM figures
        m.request_started()
        m.attempt_finished("openai", "openai/gpt-4o-mini", 200)
        m.request_finished(req, 200, 0.12, c)
        m.llm_finished(c)
    return (time.perf_counter() - t0) / n * 1e6


async def bench_stage(n: int, tracing: bool) -> float:
    from aigw.observability.stage import ObservabilityStage
    from aigw.observability.tracing import Tracing

    result = JSONResult({})

    async def last(_c: RequestContext) -> JSONResult:
        return result

    class Noop:
        async def handle(self, c, call_next):
            return await call_next(c)

    tr = Tracing(TracingSettings(enabled=True, exporter="none")) if tracing else None
    with_obs = [ObservabilityStage(tr), Noop()]
    without = [Noop()]
    if tr is not None:
        h_obs = compose(tr.wrap_stages(with_obs), tr.wrap_handler(last, "aigw.dispatch"))
    else:
        h_obs = compose(with_obs, last)
    h_bare = compose(without, last)

    async def run(h) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            c = ctx()
            await h(c)
            await c.finish()
        return (time.perf_counter() - t0) / n * 1e6

    await run(h_bare)  # warm-up
    bare = min([await run(h_bare) for _ in range(3)])
    obs = min([await run(h_obs) for _ in range(3)])
    return obs - bare


async def e2e_once(observability: dict, n: int) -> float:
    import logging

    import aiohttp
    from aiohttp import web

    from aigw import config as configmod
    from aigw.bench.mock_upstream import MockOpenAI
    from aigw.server.app import create_app

    logging.disable(logging.WARNING)
    mock = MockOpenAI(quiet_calls=True)
    await mock.start()
    with tempfile.TemporaryDirectory() as data:
        cfg = configmod.from_dict(
            {
                "providers": {"mock": {"type": "openai", "base_url": mock.url, "api_key": "k"}},
                "models": {"gpt-bench": {"provider": "mock", "model": "m"}},
                "logging": {"level": "warning", "access_log": False},
                "auth": {"required": False},
                "data_dir": data,
                "observability": observability,
            }
        )
        runner = web.AppRunner(create_app(cfg), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"model": "gpt-bench", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as http:

            async def one() -> None:
                async with http.post(url, json=body) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            for _ in range(200):  # warm-up
                await one()
            t0 = time.process_time()
            for _ in range(n):
                await one()
            cpu = (time.process_time() - t0) / n * 1e6
        await runner.cleanup()
    await mock.stop()
    return cpu


def e2e(n: int) -> None:
    import statistics

    cases = {
        "observability off": {"metrics": {"enabled": False}},
        "metrics on (default)": {},
        "+ tracing, 10% sampled": {
            "tracing": {"enabled": True, "exporter": "none", "sample_ratio": 0.1}
        },
        "+ tracing, all sampled": {"tracing": {"enabled": True, "exporter": "none"}},
    }
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(5):
        for k, obs in cases.items():
            runs[k].append(asyncio.run(e2e_once(obs, n)))
    for k, v in runs.items():
        print(f"e2e CPU per request, {k:24}: {statistics.median(v):6.0f} us")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--e2e", action="store_true", help="also real requests, CPU per request")
    ap.add_argument("--child-mp", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_mp:  # PROMETHEUS_MULTIPROC_DIR is set by the parent
        print(f"{bench_metrics(a.n):.2f}")
        return
    print(f"metrics per request, single process : {bench_metrics(a.n):6.2f} us")
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [sys.executable, __file__, "--n", str(a.n), "--child-mp"],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": d},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    print(f"metrics per request, --workers mode : {float(out):6.2f} us")
    n = max(1000, a.n // 5)
    print(f"observability stage, tracing off    : {asyncio.run(bench_stage(n, False)):6.2f} us")
    print(f"observability stage, tracing on     : {asyncio.run(bench_stage(n, True)):6.2f} us")
    if a.e2e:
        e2e(1500)


if __name__ == "__main__":
    main()
