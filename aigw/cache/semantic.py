"""The semantic side of the cache: embed the last user message, search the entries of the
same scope, and accept a candidate only if it is similar enough AND the guard agrees.

Vectors live in one index per scope (tenant + model + system prompt + params + earlier
turns, hashed in keys.py), so a search never sees another tenant's or another
conversation's entries. A small scope is searched exactly with numpy (HNSW buys nothing on
a few hundred vectors); a scope that grows past `hnsw_min_entries` moves to a usearch HNSW
index (cosine). Only the event loop's thread touches the index.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aigw.cache.guard import Features, disagreement, features
from aigw.cache.settings import CacheConfig

if TYPE_CHECKING:
    from usearch.index import Index

# Texts up to this many characters are embedded inline (tens of microseconds, see
# docs/CACHING.md); longer ones in a thread so the event loop is never held for long.
INLINE_EMBED_CHARS = 1000
SWEEP_EVERY = 1024  # adds between two sweeps of expired vectors


@dataclass(slots=True)
class _Item:
    key: str  # the exact-cache key holding the answer
    scope: str
    text: str
    feats: Features
    expires: float
    vec: np.ndarray  # float16 copy: candidates are re-scored exactly, not from the i8 index


@dataclass(slots=True)
class Candidate:
    key: str
    similarity: float
    reason: str | None  # why the guard refused, None when it agreed


class _Scope:
    """Vectors of one scope: exact numpy search while small, usearch HNSW once large."""

    __slots__ = ("_hnsw", "_ids", "_lock", "_mat", "cfg", "dim")

    def __init__(self, dim: int, cfg: CacheConfig) -> None:
        self.dim, self.cfg = dim, cfg
        self._ids: list[int] = []
        self._mat = np.empty((4, dim), np.float32)
        self._hnsw: Index | None = None
        # HNSW searches run in worker threads while the loop adds and removes: one lock per
        # scope keeps them apart (a mutation waits at most for one search).
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hnsw) if self._hnsw is not None else len(self._ids)

    @property
    def is_hnsw(self) -> bool:
        return self._hnsw is not None

    def add(self, vid: int, vec: np.ndarray) -> None:
        if self._hnsw is not None:
            with self._lock:
                self._hnsw.add(vid, vec)
            return
        n = len(self._ids)
        if n == len(self._mat):
            self._mat = np.concatenate([self._mat, np.empty_like(self._mat)])
        self._mat[n] = vec
        self._ids.append(vid)
        if n + 1 >= self.cfg.semantic.hnsw_min_entries:
            self._to_hnsw()

    def add_many(self, vids: list[int], mat: np.ndarray) -> None:
        """Batch insert: usearch adds a batch on every core, far faster than one by one."""
        if self._hnsw is None and len(self._ids) + len(vids) < self.cfg.semantic.hnsw_min_entries:
            for vid, vec in zip(vids, mat, strict=True):
                self.add(vid, vec)
            return
        if self._hnsw is None:
            self._to_hnsw()
        assert self._hnsw is not None  # set by _to_hnsw
        with self._lock:
            self._hnsw.add(np.asarray(vids, np.uint64), mat)

    def _to_hnsw(self) -> None:
        from usearch.index import Index

        s = self.cfg.semantic
        idx = Index(
            ndim=self.dim,
            metric="cos",
            dtype=s.index_dtype,
            connectivity=s.connectivity,
            expansion_add=s.expansion_add,
            expansion_search=s.expansion_search,
        )
        n = len(self._ids)
        idx.add(np.asarray(self._ids, np.uint64), self._mat[:n])
        self._hnsw, self._ids, self._mat = idx, [], np.empty((0, self.dim), np.float32)

    def remove(self, vid: int) -> None:
        if self._hnsw is not None:
            with self._lock:
                self._hnsw.remove(vid)
            return
        i = self._ids.index(vid)
        last = len(self._ids) - 1
        self._mat[i] = self._mat[last]
        self._ids[i] = self._ids[last]
        self._ids.pop()

    def search(self, vec: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._hnsw is not None:
            with self._lock:
                m = self._hnsw.search(vec, k, threads=1)  # one query: no thread pool
            return [(int(key), 1.0 - float(d)) for key, d in zip(m.keys, m.distances, strict=False)]
        n = len(self._ids)
        if n == 0:
            return []
        sims = self._mat[:n] @ vec
        top = np.argpartition(-sims, k - 1)[:k] if n > k else np.arange(n)
        return [(self._ids[i], float(sims[i])) for i in top]


def _half(vec: np.ndarray) -> np.ndarray:
    return np.asarray(vec, np.float16)


class SemanticIndex:
    def __init__(self, dim: int, cfg: CacheConfig, clock: Callable[[], float] = time.time) -> None:
        self.dim, self.cfg, self.clock = dim, cfg, clock
        self._scopes: dict[str, _Scope] = {}
        self._items: dict[int, _Item] = {}  # insertion order = age, for the size cap
        self._by_key: dict[str, int] = {}
        self._next = 1
        self._adds = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def add(self, key: str, scope: str, vec: np.ndarray, text: str, expires: float) -> bool:
        """Index the answer stored under `key`. A zero vector is refused (it would match
        everything). Adding a key already present only refreshes its expiry."""
        if not np.any(vec):
            return False
        old = self._by_key.get(key)
        if old is not None:
            self._items[old].expires = max(self._items[old].expires, expires)
            return True
        vid, self._next = self._next, self._next + 1
        sc = self._scopes.get(scope)
        if sc is None:
            sc = self._scopes[scope] = _Scope(self.dim, self.cfg)
        sc.add(vid, np.asarray(vec, np.float32))
        self._items[vid] = _Item(key, scope, text, features(text), expires, _half(vec))
        self._by_key[key] = vid
        self._adds += 1
        if self._adds % SWEEP_EVERY == 0:
            self.sweep()
        while len(self._items) > self.cfg.max_entries:
            self._drop(next(iter(self._items)))
        return True

    def add_many(self, records: list[tuple[str, str, np.ndarray, str, float]]) -> int:
        """Index many (key, scope, vector, text, expires) at once (start-up rebuild, bulk
        loads); same rules as `add`. Returns how many were indexed."""
        by_scope: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for key, scope, vec, text, expires in records:
            if not np.any(vec):
                continue
            old = self._by_key.get(key)
            if old is not None:
                self._items[old].expires = max(self._items[old].expires, expires)
                continue
            vid, self._next = self._next, self._next + 1
            self._items[vid] = _Item(key, scope, text, features(text), expires, _half(vec))
            self._by_key[key] = vid
            ids, vecs = by_scope.setdefault(scope, ([], []))
            ids.append(vid)
            vecs.append(np.asarray(vec, np.float32))
        for scope, (ids, vecs) in by_scope.items():
            sc = self._scopes.get(scope)
            if sc is None:
                sc = self._scopes[scope] = _Scope(self.dim, self.cfg)
            sc.add_many(ids, np.stack(vecs))
        while len(self._items) > self.cfg.max_entries:
            self._drop(next(iter(self._items)))
        return sum(len(ids) for ids, _ in by_scope.values())

    def remove(self, key: str) -> None:
        vid = self._by_key.get(key)
        if vid is not None:
            self._drop(vid)

    def _drop(self, vid: int) -> None:
        item = self._items.pop(vid)
        del self._by_key[item.key]
        sc = self._scopes[item.scope]
        sc.remove(vid)
        if len(sc) == 0:
            del self._scopes[item.scope]

    def sweep(self) -> None:
        now = self.clock()
        for vid in [v for v, it in self._items.items() if it.expires <= now]:
            self._drop(vid)

    def search(
        self, scope: str, vec: np.ndarray, text: str, k: int, threshold: float, guard: bool
    ) -> list[Candidate]:
        """Candidates at or above the threshold, most similar first, each with the guard's
        verdict. A zero query vector finds nothing."""
        sc = self._scopes.get(scope)
        if sc is None or not np.any(vec):
            return []
        return self.judge(sc.search(vec, k), vec, text, threshold, guard)

    def scope(self, scope: str) -> _Scope | None:
        return self._scopes.get(scope)

    def judge(
        self,
        found: list[tuple[int, float]],
        vec: np.ndarray,
        text: str,
        threshold: float,
        guard: bool,
    ) -> list[Candidate]:
        """Turn raw matches into candidates: the similarity is recomputed from the stored
        vector (the HNSW index may hold int8), then the threshold and the guard decide."""
        now = self.clock()
        q = np.asarray(vec, np.float32)
        qf = features(text) if guard else None
        out: list[Candidate] = []
        scored = []
        for vid, _ in found:
            item = self._items.get(vid)
            if item is not None:
                scored.append((float(item.vec.astype(np.float32) @ q), vid, item))
        for sim, vid, item in sorted(scored, key=lambda x: -x[0]):
            if sim < threshold:
                continue
            if item.expires <= now:
                self._drop(vid)
                continue
            reason = disagreement(qf, item.feats) if qf is not None else None
            out.append(Candidate(item.key, sim, reason))
        return out


class SemanticCache:
    """The embedder, the index, and the decision rule (threshold + guard)."""

    def __init__(self, cfg: CacheConfig, clock: Callable[[], float] = time.time) -> None:
        from aigw.embedding import load_embedder

        self.cfg = cfg
        self.embedder = load_embedder(cfg.model)
        self.index = SemanticIndex(self.embedder.dim, cfg, clock)

    def embed_now(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    async def embed(self, text: str) -> np.ndarray:
        if len(text) <= INLINE_EMBED_CHARS:
            return self.embed_now(text)
        return await asyncio.to_thread(self.embed_now, text)

    def lookup(self, scope: str, vec: np.ndarray, text: str) -> list[Candidate]:
        """Candidates the cache may serve (similar enough and agreed by the guard)."""
        s = self.cfg.semantic
        cands = self.index.search(scope, vec, text, s.top_k, self.cfg.similarity_threshold, s.guard)
        return [c for c in cands if c.reason is None]

    async def find(self, scope: str, text: str) -> tuple[np.ndarray, list[Candidate]]:
        """Embed and look up without holding the event loop: short texts and small scopes
        (exact numpy search) inline, an HNSW search (hundreds of microseconds at 100k
        entries, more on a busy host) in a worker thread."""
        vec = await self.embed(text)
        sc = self.index.scope(scope)
        if sc is None or not np.any(vec):
            return vec, []
        k = self.cfg.semantic.top_k
        if sc.is_hnsw:
            found = await asyncio.to_thread(sc.search, vec, k)
        else:
            found = sc.search(vec, k)
        cands = self.index.judge(
            found, vec, text, self.cfg.similarity_threshold, self.cfg.semantic.guard
        )
        return vec, [c for c in cands if c.reason is None]
