"""Rate-limiter cost per request: in process, and against Redis (one round trip).

Measures, as p50/p99 over many sequential decisions (one request each, so latency is
per request, not amortised over a batch):
  * memory: RateLimitStage.handle around a no-op next stage, with limits on three scopes
    (key rpm+rph+tpm, org rpm+token budget, global rpm): 6 checks, all or nothing, plus
    the token reservation and its settlement
  * memory, admit only: the backend's decision alone
  * redis: the same stage with `redis_url` set, and Redis's own count of commands sent
    (INFO commandstats), which shows one EVALSHA per decision and one per settlement
    (server-wide counts: run it on a Redis nobody else is using for exact figures)

Usage (from the repository root):
    .venv/bin/python bench/limiter.py [--n 20000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import redis.asyncio as redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aigw import config as configmod
from aigw.limits.stage import build
from aigw.pipeline import JSONResult, RequestContext
from aigw.types import Principal, Usage

BIG = 10**9  # limits that never refuse: we measure the cost of deciding, not of refusing
BODY = {
    "model": "gpt-test",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant." * 4},
        {"role": "user", "content": "What is the capital of France? " * 10},
    ],
    "max_tokens": 256,
}


def limits_config(redis_url: str | None, prefix: str) -> dict:
    rl: dict = {
        "requests_per_minute": BIG,
        "requests_per_hour": BIG,
        "tokens_per_minute": BIG,
        "org": {"requests_per_minute": BIG, "token_budget": BIG},
        "global": {"requests_per_minute": BIG},
    }
    if redis_url:
        rl |= {"redis_url": redis_url, "redis_prefix": prefix}
    return {"rate_limiting": rl, "auth": {"required": False}}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def report(name: str, xs: list[float]) -> None:
    print(
        f"{name:<34} p50 {pct(xs, 0.5) * 1e6:8.1f} us   p99 {pct(xs, 0.99) * 1e6:8.1f} us"
        f"   mean {sum(xs) / len(xs) * 1e6:8.1f} us"
    )


async def run_stage(cfg: configmod.Config, n: int) -> list[float]:
    stage = build(cfg)
    assert stage is not None
    await stage.limiter.start()
    principal = Principal(org_id="acme", key_id="key_bench")

    async def upstream(ctx: RequestContext) -> JSONResult:
        ctx.usage = Usage(prompt_tokens=90, completion_tokens=40)
        return JSONResult({})

    times = []
    try:
        for _ in range(n):
            ctx = RequestContext("r", "chat", BODY, {}, "gpt-test", principal=principal)
            t0 = time.perf_counter()
            await stage.handle(ctx, upstream)
            await ctx.finish()  # the settlement (after the answer, in the real server)
            times.append(time.perf_counter() - t0)
    finally:
        await stage.limiter.close()
    return times


async def run_admit_only(cfg: configmod.Config, n: int) -> list[float]:
    stage = build(cfg)
    assert stage is not None
    ctx = RequestContext(
        "r", "chat", BODY, {}, "gpt-test", principal=Principal(org_id="acme", key_id="k")
    )
    checks = stage.checks(ctx)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await stage.limiter.admit(checks, "acme")
        times.append(time.perf_counter() - t0)
    return times


async def evalsha_calls(r: redis.Redis) -> int:
    stats = await r.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    a = ap.parse_args()

    mem = configmod.from_dict(limits_config(None, ""))
    await run_stage(mem, 1000)  # warm-up
    report("memory: stage (admit + settle)", await run_stage(mem, a.n))
    report("memory: admit only (6 checks)", await run_admit_only(mem, a.n))

    prefix = f"aigwbench:{uuid.uuid4().hex[:8]}:"
    r = redis.from_url(a.redis)
    try:
        red = configmod.from_dict(limits_config(a.redis, prefix))
        n = max(1000, a.n // 4)
        await run_stage(red, 200)  # warm-up (script load, connections)
        before = await evalsha_calls(r)
        times = await run_stage(red, n)
        after = await evalsha_calls(r)
        report("redis: stage (admit + settle)", times)
        print(f"{'redis: EVALSHA per request':<34} {(after - before) / n:.2f} (1 admit + 1 settle)")
        before = await evalsha_calls(r)
        times = await run_admit_only(red, n)
        after = await evalsha_calls(r)
        report("redis: admit only (6 checks)", times)
        print(f"{'redis: EVALSHA per decision':<34} {(after - before) / n:.2f}")
    finally:
        keys = [k async for k in r.scan_iter(match="{" + prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
        await r.aclose()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
