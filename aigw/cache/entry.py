"""A cached answer and its wire format (the same bytes in Redis and in a size estimate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from aigw.types import Usage

_JSON, _STREAM = b"J", b"S"


@dataclass(slots=True)
class Entry:
    """Either a complete `chat.completion`/embeddings body (`raw` holds its bytes, served
    unchanged) or the chunks of a completed stream."""

    expires: float  # wall-clock time (time.time()): it travels between instances
    body: dict[str, Any] | None = None
    raw: bytes | None = None
    chunks: list[dict[str, Any]] | None = None
    size: int = 0

    @property
    def is_stream(self) -> bool:
        return self.chunks is not None

    def usage(self) -> Usage | None:
        if self.body is not None:
            return Usage.from_openai(self.body.get("usage"))
        for c in reversed(self.chunks or ()):
            if c.get("usage"):
                return Usage.from_openai(c["usage"])
        return None

    def encode(self) -> bytes:
        """Kind byte, 8-byte expiry (ms), payload: the body's bytes or the chunk list."""
        head = int(self.expires * 1000).to_bytes(8, "big")
        if self.chunks is not None:
            return _STREAM + head + orjson.dumps(self.chunks)
        raw = self.raw if self.raw is not None else orjson.dumps(self.body)
        return _JSON + head + raw

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        kind, expires, payload = data[:1], int.from_bytes(data[1:9], "big") / 1000, data[9:]
        if kind == _STREAM:
            return cls(expires=expires, chunks=orjson.loads(payload), size=len(data))
        if kind == _JSON:
            return cls(expires=expires, body=orjson.loads(payload), raw=payload, size=len(data))
        raise ValueError("unknown cache entry kind")


def json_entry(body: dict[str, Any], raw: bytes | None, expires: float) -> Entry:
    raw = raw if raw is not None else orjson.dumps(body)
    return Entry(expires=expires, body=body, raw=raw, size=len(raw) + 9)


def stream_entry(chunks: list[dict[str, Any]], expires: float) -> tuple[Entry, bytes]:
    e = Entry(expires=expires, chunks=chunks)
    data = e.encode()
    e.size = len(data)
    return e, data
