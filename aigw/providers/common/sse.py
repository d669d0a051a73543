"""Server-Sent Events: an incremental parser for upstream streams, and the writer's framing."""

from __future__ import annotations

from collections.abc import Iterator


class SSEParser:
    """Feed raw bytes as they arrive; get (event, data) pairs for each complete event.

    Handles CRLF and LF line ends, multi-line `data:`, comments (`: ping`) and events split
    across network reads.
    """

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data or self._event is not None:
                    data = b"\n".join(self._data)
                    ev = self._event
                    self._data = []
                    self._event = None
                    yield ev, data
                continue
            if line[:1] == b":":
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buf = buf[start:]

    def flush(self) -> Iterator[tuple[str | None, bytes]]:
        """The stream ended: an event without its trailing blank line still counts."""
        if self._buf:
            yield from self.feed(b"\n")
        if self._data or self._event is not None:
            data = b"\n".join(self._data)
            ev = self._event
            self._data, self._event = [], None
            yield ev, data
