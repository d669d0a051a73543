"""How one protocol writes an answer, and nothing else.

`server/writer.py` owns the request's lifecycle (run the pipeline, write, disconnects,
mid-stream errors, finish callbacks); the middleware turns every error into a response. Each
protocol the gateway speaks (OpenAI chat and embeddings, Anthropic Messages, OpenAI
Responses) supplies a `Framing`: how a JSON answer's body, an error response, and a stream's
chunks, end and mid-stream error are written.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from aigw.pipeline import JSONResult, NativeEvents, RequestContext
from aigw.types import GatewayError


class Events(Protocol):
    """One stream's writer: OpenAI chat chunks in, the protocol's SSE bytes out."""

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The bytes for one chunk (b"": nothing to send for it)."""
        ...

    def end(self) -> bytes:
        """The bytes that close a stream that completed."""
        ...

    def error(self, e: GatewayError) -> bytes:
        """The bytes that end a stream cut short by an error."""
        ...


class Framing(Protocol):
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        """The body of a complete (JSON) answer (`result.native`: the upstream's own, when
        it speaks the client's format)."""
        ...

    def events(self, ctx: RequestContext, native: NativeEvents | None) -> Events:
        """A writer for one streamed answer; `native`: the upstream's own events when it
        speaks the client's format (they may be passed through instead of the chunks)."""
        ...

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        """An error as this protocol's response (status, headers and body)."""
        ...
