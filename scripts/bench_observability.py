"""Per-request cost of observability, measured in-process (no network, no noise from it).

    .venv/bin/python scripts/bench_observability.py [--n 100000]

Prints microseconds per request for: the metrics recorded at the end of a request (single
process, and multi-worker mmap mode), the observability stage with tracing off, and with
tracing on (spans created and dropped, no exporter).
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
    for _ in range(n):
        m.request_started()
        m.request_finished(req, 200, 0.12, c)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
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


if __name__ == "__main__":
    main()
