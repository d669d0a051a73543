"""The cache stage (slot 7): exact lookup, then semantic lookup, else call upstream and store.

A hit never calls the next stage. A streamed answer is stored only once it has completed
(the wrapper around its chunk iterator sees the end), and is replayed as SSE chunks to
streaming clients and as one `chat.completion` to the others; a JSON answer is likewise
replayed as chunks to streaming clients. Storing runs in `ctx.on_finish`, after the answer
has reached the client. `ctx.cache` tells the writer (header `x-aigw-cache`) and the
stages outside (usage, budgets) what happened: hit | semantic | miss | bypass; on a hit
`ctx.usage` is the cached answer's usage, i.e. what the hit saved.

`/v1/messages` (Anthropic's format, translated to a chat request by its route) is cached
exactly, keyed on the client's own Anthropic request so that every field of it counts
(top_k, thinking, cache_control...). Only answers the gateway translated are stored: an
Anthropic upstream's own message or events (thinking blocks, cache usage) reach the client
unchanged and are never replaced by a translation from the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from aigw.cache.entry import Entry, json_entry, stream_entry
from aigw.cache.keys import deterministic, exact_key, semantic_scope, tenant_scope
from aigw.cache.replay import chunks_to_completion, completion_to_chunks, replay
from aigw.cache.semantic import SemanticCache
from aigw.cache.settings import CacheConfig
from aigw.cache.store_memory import MemoryStore
from aigw.cache.store_redis import RedisStore
from aigw.component import Gauge, StageComponent
from aigw.pipeline import Handler, JSONResult, RequestContext, Result, StreamResult

log = logging.getLogger("aigw.cache")

SIMILARITY_HEADER = "x-aigw-cache-similarity"
CACHED_ENDPOINTS = frozenset({"chat", "embeddings", "messages", "responses"})


def _cache_control(headers: Any) -> tuple[bool, bool]:
    """(no_cache, no_store) from the request's Cache-Control header."""
    v = headers.get("Cache-Control") or headers.get("cache-control")
    if not v:
        return False, False
    tokens = {t.strip().split("=", 1)[0].lower() for t in v.split(",")}
    return "no-cache" in tokens, "no-store" in tokens


class CacheStage(StageComponent):
    def __init__(
        self,
        cfg: CacheConfig,
        store: MemoryStore | RedisStore,
        semantic: SemanticCache | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.semantic = semantic
        self.clock = clock
        self._opt_in = cfg.semantic.opt_in_header

    @classmethod
    def from_config(cls, cfg: CacheConfig, clock: Callable[[], float] = time.time) -> CacheStage:
        semantic = SemanticCache(cfg, clock) if cfg.semantic.enabled else None
        index = semantic.index if semantic else None
        store: MemoryStore | RedisStore
        if cfg.redis_url:
            store = RedisStore(
                cfg.redis_url, cfg.redis_prefix, cfg.redis_timeout, cfg.max_entries, index, clock
            )
        else:
            store = MemoryStore(cfg.max_entries, cfg.max_bytes, index, clock)
        return cls(cfg, store, semantic, clock)

    async def start(self) -> None:
        await self.store.start()

    async def close(self) -> None:
        await self.store.close()

    stop = close

    def gauges(self) -> list[Gauge]:
        store = self.store
        if not isinstance(store, MemoryStore):
            return []  # a Redis store is measured on Redis itself
        return [
            Gauge("cache_entries", lambda: len(store), "Answers held in the in-process cache."),
            Gauge("cache_bytes", lambda: store.bytes, "Bytes held in the in-process cache."),
        ]

    # --- the request's way ----------------------------------------------------------------

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        if ctx.endpoint not in CACHED_ENDPOINTS or not ctx.principal.cache_enabled:
            ctx.cache = "bypass"
            return await call_next(ctx)
        no_cache, no_store = _cache_control(ctx.headers)
        # A Responses request with OpenAI's built-in tools: the chat form the key is made of
        # does not hold them.
        if (no_cache and no_store) or (ctx.turn is not None and ctx.turn.needs_openai):
            ctx.cache = "bypass"
            return await call_next(ctx)

        tenant = tenant_scope(self.cfg.scope, ctx.principal.org_id)
        key = exact_key(ctx.endpoint, ctx.model, _client_request(ctx), tenant)
        if not no_cache:
            entry = await self.store.get(key)
            if entry is not None:  # an exact hit: nothing semantic is computed for it
                return self._serve(ctx, entry, "hit", None)
        sem = self._semantic_scope(ctx, tenant)
        vec: np.ndarray | None = None

        if no_cache:
            ctx.cache = "bypass"
        else:
            if sem is not None and self.semantic is not None:
                vec, cands = await self.semantic.find(sem[0], sem[1])
                for cand in cands:
                    entry = await self.store.get(cand.key)
                    if entry is not None:
                        return self._serve(ctx, entry, "semantic", cand.similarity)
            ctx.cache = "miss"

        result = await call_next(ctx)
        if no_store:
            return result
        if isinstance(result, JSONResult):
            if result.status == 200 and result.native is None:
                body, raw = result.body, result.raw

                async def store_json(c: RequestContext) -> None:
                    if c.status == 200:
                        entry = json_entry(body, raw, self.clock() + self.cfg.ttl)
                        await self._store(key, entry, None, sem, vec)

                ctx.on_finish(store_json)
            return result

        if result.native is not None:
            return result
        seen: list[dict[str, Any]] = []
        done: list[bool] = []

        async def store_stream(c: RequestContext) -> None:
            if done and c.status == 200 and _finished(seen):
                entry, data = stream_entry(seen, self.clock() + self.cfg.ttl)
                await self._store(key, entry, data, sem, vec)

        ctx.on_finish(store_stream)
        return StreamResult(_recording(result.chunks, seen, done))

    def _semantic_scope(self, ctx: RequestContext, tenant: str) -> tuple[str, str] | None:
        """(scope, text) when the request may be answered, and stored, by meaning."""
        if (
            self.semantic is None
            or ctx.endpoint != "chat"
            or not (
                deterministic(ctx.body)
                or (ctx.headers.get(self._opt_in) or "").strip().lower() == "on"
            )
        ):
            return None
        # The embedding model is part of the scope: vectors of two models never meet.
        return semantic_scope(
            ctx.model,
            ctx.body,
            tenant + "|" + self.semantic.embedder.name,
            self.cfg.semantic.max_chars,
        )

    # --- hits and stores ------------------------------------------------------------------

    def _serve(
        self, ctx: RequestContext, entry: Entry, kind: str, similarity: float | None
    ) -> Result:
        ctx.cache = kind
        ctx.usage = entry.usage()
        ctx.extra_log["cache"] = kind
        if similarity is not None:
            ctx.response_headers[SIMILARITY_HEADER] = f"{similarity:.4f}"
            ctx.extra_log["cache_similarity"] = round(similarity, 4)
        if ctx.stream:
            chunks = (
                entry.chunks if entry.chunks is not None else completion_to_chunks(entry.body or {})
            )
            return StreamResult(replay(chunks))
        if entry.chunks is not None:
            return JSONResult(chunks_to_completion(entry.chunks))
        return JSONResult(entry.body or {}, raw=entry.raw)

    async def _store(
        self,
        key: str,
        entry: Entry,
        data: bytes | None,
        sem: tuple[str, str] | None,
        vec: np.ndarray | None,
    ) -> None:
        if entry.size > self.cfg.max_entry_bytes:
            return
        semantic = None
        if sem is not None and self.semantic is not None:
            if vec is None:  # Cache-Control: no-cache skipped the lookup that embeds
                vec = await self.semantic.embed(sem[1])
            if np.any(vec):  # a zero vector would match everything: never index it
                semantic = (sem[0], sem[1], vec)
        try:
            await self.store.put(key, entry, semantic, data)
        except Exception:
            log.exception("cache store failed")


def _client_request(ctx: RequestContext) -> dict[str, Any]:
    """What the client sent: for /v1/messages the Anthropic request behind the chat body."""
    return ctx.native if ctx.native is not None else ctx.body


def _finished(chunks: list[dict[str, Any]]) -> bool:
    """A stream is worth keeping only if every choice it opened has a finish_reason."""
    opened: set[int] = set()
    finished: set[int] = set()
    for c in chunks:
        for ch in c.get("choices") or ():
            idx = int(ch.get("index") or 0)
            opened.add(idx)
            if ch.get("finish_reason"):
                finished.add(idx)
    return bool(opened) and opened == finished


async def _recording(
    chunks: AsyncIterator[dict[str, Any]], seen: list[dict[str, Any]], done: list[bool]
) -> AsyncIterator[dict[str, Any]]:
    """Pass the chunks through, keeping a copy; `done` is set only if the stream ended
    normally (an upstream error or a client that left raises through here instead)."""
    try:
        async for c in chunks:
            seen.append(c)
            yield c
        done.append(True)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
