"""AWS's binary event stream (`application/vnd.amazon.eventstream`) cut into events by
botocore's parser, incrementally, as the body's bytes arrive.

Each frame is a prelude (lengths, CRC), typed headers, a payload and a CRC; `:message-type`
says whether it is an `event` (named by `:event-type`), an `exception` (named by
`:exception-type`, a JSON `{"message"}` payload) or a protocol `error` (`:error-code`,
`:error-message`). botocore's parser is imported when the first Bedrock stream starts.
"""

from __future__ import annotations

from collections.abc import Iterator

from aigw.types import GatewayError

# A protocol-level error frame (`:message-type: error`) has no event name of its own.
ERROR_FRAME = ":error"


class EventStreamDecoder:
    """Feed raw bytes as they arrive; get (name, payload) for each complete frame."""

    __slots__ = ("_buf", "_parse_error")

    def __init__(self) -> None:
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._buf = EventStreamBuffer()
        self._parse_error = ParserError

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, bytes]]:
        self._buf.add_data(chunk)
        try:
            for msg in self._buf:
                h = msg.headers
                kind = h.get(":message-type")
                if kind == "event":
                    yield h.get(":event-type"), msg.payload
                elif kind == "exception":
                    yield h.get(":exception-type") or "exception", msg.payload
                elif kind == "error":
                    text = f"{h.get(':error-code') or 'error'}: {h.get(':error-message') or ''}"
                    yield ERROR_FRAME, text.encode()
        except self._parse_error as e:  # a bad CRC or length: the rest of the stream is unreadable
            raise GatewayError(
                502,
                f"bedrock: unreadable event stream ({type(e).__name__})",
                "api_error",
                "bad_upstream_response",
                retryable=True,
            ) from None

    def flush(self) -> Iterator[tuple[str | None, bytes]]:
        """The body ended. A partial frame left in the buffer is a cut stream, which the
        translator reports (no `messageStop`/`metadata` seen)."""
        return iter(())
