"""Per-request cost of the routing layer (retries, breaker, balancer, slots bookkeeping)
around a zero-latency upstream, default config: one deployment, no queue, no Redis.

    .venv/bin/python bench/dispatch_overhead.py [--against 39c0042]

Prints µs/request for: the bare upstream call (`_chat_once`, the floor), the full
`dispatcher.chat`, a `temperature: 0` request (goes through the in-flight coalescer), and,
with --against REV, the dispatcher of that git revision (e.g. the core skeleton's).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import tempfile
import time

import orjson

from aigw.config import from_dict
from aigw.pipeline import RequestContext
from aigw.routing.dispatch import Dispatcher
from aigw.routing.router import Router

RAW = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


class StubClient:
    """The upstream answers at once: what is left to measure is the gateway's own work."""

    async def post(self, conf, req, headers=None):  # type: ignore[no-untyped-def]
        return 200, {}, RAW


def config():  # type: ignore[no-untyped-def]
    return from_dict(
        {
            "providers": {"mock": {"type": "openai", "base_url": "http://x"}},
            "models": {"gpt-test": {"provider": "mock", "model": "up"}},
        }
    )


def _ctx(body: dict) -> RequestContext:
    return RequestContext(request_id="r", endpoint="chat", body=body, headers={}, model="gpt-test")


async def _time(call, body: dict, n: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for _ in range(n):
        await call(_ctx(body))
    return (time.perf_counter() - t0) / n * 1e6


def _old_dispatcher(rev: str):  # type: ignore[no-untyped-def]
    src = subprocess.run(
        ["git", "show", f"{rev}:aigw/routing/dispatch.py"], capture_output=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("wb", suffix=".py", delete=False) as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location("old_dispatch", f.name)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.Dispatcher(Router(config()), StubClient())


async def main(n: int, runs: int, against: str | None) -> None:
    cfg = config()
    d = Dispatcher(Router(cfg), StubClient(), cfg.routing)
    target = d.router.targets("gpt-test")[0]

    async def bare(ctx: RequestContext):  # type: ignore[no-untyped-def]
        return await d._chat_once(ctx, target, lambda _=None: None)  # type: ignore[arg-type]

    cases = {"bare upstream call": (bare, BODY), "dispatcher.chat": (d.chat, BODY)}
    cases["temperature 0 (coalescer)"] = (d.chat, {**BODY, "temperature": 0})
    if against:
        cases[f"dispatcher.chat @ {against}"] = (_old_dispatcher(against).chat, BODY)
    for call, body in cases.values():  # warm up
        await _time(call, body, n // 10)
    results: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(runs):
        for name, (call, body) in cases.items():
            results[name].append(await _time(call, body, n))
    for name, v in results.items():
        print(f"{name:34s} median {sorted(v)[len(v) // 2]:6.2f} µs/request")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=30000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--against", default=None, help="git revision to compare with")
    a = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(a.n, a.runs, a.against))
