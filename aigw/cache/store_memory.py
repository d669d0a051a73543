"""The in-process store: an LRU bounded by entry count and bytes, with a TTL per entry."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from aigw.cache.entry import Entry
from aigw.cache.semantic import SemanticIndex


class MemoryStore:
    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        index: SemanticIndex | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.index = index
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, key: str) -> Entry | None:
        e = self._entries.get(key)
        if e is None:
            return None
        if e.expires <= self.clock():
            self._delete(key)
            return None
        self._entries.move_to_end(key)
        return e

    async def put(
        self,
        key: str,
        entry: Entry,
        semantic: tuple[str, str, np.ndarray] | None = None,
        data: bytes | None = None,
    ) -> None:
        """Store `entry`; `semantic` = (scope, text, vector) also indexes it by meaning.
        (`data`, the encoded entry, is for stores that keep bytes; this one keeps objects.)"""
        if entry.size > self.max_bytes:
            return
        if key in self._entries:
            self._delete(key)
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._delete(next(iter(self._entries)))
        if semantic is not None and self.index is not None and key in self._entries:
            scope, text, vec = semantic
            self.index.add(key, scope, vec, text, entry.expires)

    def _delete(self, key: str) -> None:
        e = self._entries.pop(key)
        self.bytes -= e.size
        if self.index is not None:
            self.index.remove(key)
