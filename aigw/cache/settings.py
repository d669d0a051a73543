"""The `cache:` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aigw.sections import Duration, Section, Size

# Chosen on ../shared/data/cache-eval/pairs.dev.jsonl so that the false-hit rate on hard
# non-paraphrases stays <= 1% with the guard on (see docs/CACHING.md).
DEFAULT_SIMILARITY_THRESHOLD = 0.99


class SemanticConfig(Section):
    enabled: bool = True
    top_k: int = Field(4, ge=1, le=64)  # candidates checked by similarity + guard
    guard: bool = True  # numbers, negations, quotes, names and word order must agree
    # Callers may opt in for temperature > 0 with this header set to "on".
    opt_in_header: str = "x-aigw-semantic-cache"
    max_chars: int = Field(2000, ge=1)  # longer last messages are not cached semantically
    # Below this many entries a scope is searched exactly (numpy); above, with usearch HNSW.
    hnsw_min_entries: int = Field(256, ge=1)
    # The HNSW index's own copy: int8 makes search ~3x faster; candidates are re-scored
    # from a float16 copy, so the threshold is applied to an exact similarity.
    index_dtype: Literal["i8", "f16", "f32"] = "i8"
    connectivity: int = Field(16, ge=2)
    expansion_add: int = Field(64, ge=1)
    # Near-duplicates (cosine >= 0.99) are easy to find: a small search beam suffices.
    expansion_search: int = Field(32, ge=1)


class CacheConfig(Section):
    enabled: bool = False
    ttl: Duration = 3600.0
    similarity_threshold: float = Field(DEFAULT_SIMILARITY_THRESHOLD, gt=0, le=1)
    max_entries: int = Field(100_000, ge=1)  # in-process store; Redis: length of the index log
    max_bytes: Size = 256 * 1000**2  # in-process store
    max_entry_bytes: Size = 1000**2  # larger answers are not cached
    redis_url: str | None = Field(default=None, repr=False)  # None: in-process store
    redis_prefix: str = "aigw:cache:"
    redis_timeout: Duration = 0.25  # a slow Redis turns a lookup into a miss, not a wait
    scope: Literal["org", "global"] = "org"  # "global" shares entries across organisations
    model: str | None = None  # embedding model: None = bundled potion-base-8M, or path / hub id
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
