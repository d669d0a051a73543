"""Cache lookup latency with many cached entries (default 100k), in process, no network.

Measures, as p50/p99/max over many lookups:
  * exact hit, cache stage: key hash + store get + building the result (CacheStage.handle)
  * exact hit, whole pipeline: every configured stage on the request's way (Gateway.chat)
  * semantic lookup: embed the last user message + search the scope's index + guard
    (all N entries in ONE scope, the worst case: one big HNSW index)
  * semantic hit, cache stage: exact miss + embed + search + guard + serving the entry

Usage (from the repository root):
    .venv/bin/python bench/cache_lookup.py [--entries 100000] [--lookups 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aigw import config as configmod
from aigw.cache.entry import json_entry
from aigw.cache.keys import exact_key, semantic_scope, tenant_scope
from aigw.pipeline import RequestContext
from aigw.server.gateway import Gateway

WORDS = [
    "python",
    "java",
    "rust",
    "server",
    "database",
    "cache",
    "index",
    "vector",
    "model",
    "token",
    "prompt",
    "answer",
    "convert",
    "miles",
    "km",
    "price",
    "budget",
    "cloud",
    "deploy",
    "docker",
    "kubernetes",
    "network",
    "latency",
    "memory",
    "thread",
    "process",
    "queue",
    "stream",
    "socket",
    "request",
    "response",
    "error",
    "retry",
    "limit",
    "invoice",
    "customer",
    "order",
    "refund",
    "shipping",
    "address",
    "payment",
    "card",
    "account",
    "password",
    "email",
    "login",
    "search",
    "ranking",
    "embedding",
    "cluster",
    "shard",
    "replica",
    "backup",
    "restore",
    "log",
    "metric",
    "alert",
    "trace",
    "span",
    "dashboard",
    "query",
    "table",
    "column",
    "join",
    "schema",
    "migration",
]
STEMS = ["How do I", "What is the best way to", "Why does my", "Can you explain", "Help me"]


def prompt(rng: random.Random) -> str:
    return f"{rng.choice(STEMS)} {' '.join(rng.choices(WORDS, k=rng.randint(4, 9)))}?"


def pct(xs: list[float]) -> str:
    a = np.array(xs) * 1e6
    return (
        f"p50 {np.percentile(a, 50):7.1f} us   p99 {np.percentile(a, 99):7.1f} us   "
        f"max {a.max():8.1f} us"
    )


ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "An answer of a few words. " * 8},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 50, "total_tokens": 70},
}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=5000)
    args = ap.parse_args()
    rng = random.Random(7)

    cfg = configmod.from_dict(
        {
            "providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {"m": {"provider": "p"}},
            "logging": {"level": "warning"},
            "auth": {"required": False},
            "cache": {"enabled": True, "max_entries": args.entries + 10},
            "data_dir": tempfile.mkdtemp(prefix="aigw-bench-cache-"),
        }
    )
    gw = Gateway(cfg)
    await gw.start()
    stage = gw.cache
    assert stage is not None and stage.semantic is not None
    sem = stage.semantic
    tenant = tenant_scope("org", "default")
    sem_tenant = tenant + "|" + sem.embedder.name  # as the stage scopes semantic entries
    system = [{"role": "system", "content": "You are a helpful assistant."}]

    def body(text: str) -> dict[str, Any]:
        return {
            "model": "m",
            "messages": [*system, {"role": "user", "content": text}],
            "temperature": 0,
        }

    texts = list(dict.fromkeys(prompt(rng) for _ in range(int(args.entries * 1.1))))[: args.entries]
    t0 = time.perf_counter()
    vecs = sem.embedder.embed(texts)
    t_embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    records = []
    expires = time.time() + 3600
    for text, vec in zip(texts, vecs, strict=True):
        b = body(text)
        key = exact_key("chat", "m", b, tenant)
        scope, _ = semantic_scope("m", b, sem_tenant, 2000)  # type: ignore[misc]
        await stage.store.put(key, json_entry(ANSWER, None, expires))
        records.append((key, scope, vec, text, expires))
    sem.index.add_many(records)  # as the start-up rebuild from Redis does
    t_fill = time.perf_counter() - t0
    os.system("uptime")  # the host's load: p99 on a shared machine is mostly scheduling
    print(
        f"filled {len(texts)} entries ({len(sem.index)} indexed, one scope) - embed "
        f"{t_embed:.1f}s, store+index {t_fill:.1f}s"
    )

    async def nxt(ctx: RequestContext) -> Any:
        raise AssertionError("a hit must not call upstream")

    def ctx_for(text: str) -> RequestContext:
        return RequestContext("r", "chat", body(text), {}, "m")

    # Exact hits.
    stage_t, pipe_t = [], []
    for _ in range(args.lookups):
        text = rng.choice(texts)
        ctx = ctx_for(text)
        t = time.perf_counter()
        await stage.handle(ctx, nxt)
        stage_t.append(time.perf_counter() - t)
        assert ctx.cache == "hit"
        ctx = ctx_for(text)
        t = time.perf_counter()
        await gw.chat(ctx)
        pipe_t.append(time.perf_counter() - t)
        assert ctx.cache == "hit"
        await ctx.finish()

    # Semantic lookups: paraphrases (lower-cased, no question mark) of stored prompts.
    work_t, find_t, hit_t, hits = [], [], [], 0
    k, thr = cfg.cache.semantic.top_k, cfg.cache.similarity_threshold
    for _ in range(args.lookups):
        text = rng.choice(texts).lower().rstrip("?")
        b = body(text)
        scope, _ = semantic_scope("m", b, sem_tenant, 2000)  # type: ignore[misc]
        sc = sem.index.scope(scope)
        assert sc is not None and sc.is_hnsw
        t = time.perf_counter()  # the work itself: embed + HNSW search + guard, inline
        vec = sem.embed_now(text)
        found = sem.index.judge(sc.search(vec, k), vec, text, thr, True)
        work_t.append(time.perf_counter() - t)
        t = time.perf_counter()  # as served: the search in a worker thread
        _, cands = await sem.find(scope, text)
        find_t.append(time.perf_counter() - t)
        ctx = ctx_for(text)
        t = time.perf_counter()
        await stage.handle(ctx, nxt)
        hit_t.append(time.perf_counter() - t)
        hits += ctx.cache == "semantic"
        assert bool(cands) == (ctx.cache == "semantic")
        assert found or not cands

    print(f"exact hit, cache stage          {pct(stage_t)}")
    print(f"exact hit, whole pipeline       {pct(pipe_t)}")
    print(f"semantic lookup work, inline    {pct(work_t)}")
    print(f"semantic lookup, as served      {pct(find_t)}   (search in a worker thread)")
    print(f"semantic hit, cache stage       {pct(hit_t)}   ({hits}/{args.lookups} served)")
    await gw.stop()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
