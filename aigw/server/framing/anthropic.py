"""Anthropic's Messages API: a `message`, its SSE event sequence (`message_start` ...
`message_stop`), errors as `{"type": "error", "error": {...}}` with Anthropic's status.

For an Anthropic upstream the provider's own message and events pass through unchanged
(only the model name is the one the client asked for)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import JSONResult, NativeEvents, RequestContext
from aigw.providers.anthropic import inbound
from aigw.providers.anthropic.errors import error_body, error_status
from aigw.types import GatewayError


class MessageStream:
    __slots__ = ("events", "model", "native", "request_id")

    def __init__(self, ctx: RequestContext, native: NativeEvents | None) -> None:
        self.model = ctx.model
        self.request_id = ctx.request_id
        self.events = inbound.MessageEvents(ctx.model)
        self.native = native  # an Anthropic upstream's own events, passed through

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        if self.native is not None:
            return inbound.native_events(self.native.take(), self.model)
        return b"".join(inbound.sse(name, data) for name, data in self.events.feed(chunk))

    def end(self) -> bytes:
        if self.native is not None:
            return inbound.native_events(self.native.take(), self.model)
        return b"".join(inbound.sse(name, data) for name, data in self.events.close())

    def error(self, e: GatewayError) -> bytes:
        return inbound.sse("error", error_body(e, self.request_id))


class MessagesFraming:
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        if result.native is not None:  # an Anthropic upstream's own message
            return orjson.dumps(inbound.native_message(result.native, ctx.model))
        return orjson.dumps(inbound.to_message(result.body, ctx.model))

    def events(self, ctx: RequestContext, native: NativeEvents | None) -> MessageStream:
        return MessageStream(ctx, native)

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        headers = e.response_headers()
        headers["X-Request-ID"] = request_id
        headers["request-id"] = request_id  # where Anthropic's SDKs look for it
        return web.Response(
            status=error_status(e),
            body=orjson.dumps(error_body(e, request_id)),
            content_type="application/json",
            headers=headers,
        )


MESSAGES = MessagesFraming()
