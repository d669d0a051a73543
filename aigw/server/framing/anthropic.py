"""Anthropic's Messages API: a `message`, its SSE event sequence (`message_start` ...
`message_stop`), errors as `{"type": "error", "error": {...}}` with Anthropic's status.

For an Anthropic upstream the provider's own message and events pass through unchanged
(only the model name is the one the client asked for)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import JSONResult, RequestContext
from aigw.providers import anthropic_inbound as inbound
from aigw.types import GatewayError


class MessageStream:
    __slots__ = ("events", "model", "native", "request_id")

    def __init__(self, ctx: RequestContext) -> None:
        self.model = ctx.model
        self.request_id = ctx.request_id
        self.events = inbound.MessageEvents(ctx.model)
        self.native: bool | None = None  # passing an Anthropic upstream's events through?

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        raw = inbound.native_events(chunk, self.model)
        if self.native is None:
            self.native = raw is not None
        if self.native:
            return raw or b""
        return b"".join(inbound.sse(name, data) for name, data in self.events.feed(chunk))

    def end(self) -> bytes:
        if self.native:
            return b""  # the upstream's own message_stop went through already
        return b"".join(inbound.sse(name, data) for name, data in self.events.close())

    def error(self, e: GatewayError) -> bytes:
        return inbound.sse("error", inbound.error_body(e, self.request_id))


class MessagesFraming:
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        message = inbound.native_message(result.body, ctx.model)
        if message is None:
            message = inbound.to_message(result.body, ctx.model)
        return orjson.dumps(message)

    def events(self, ctx: RequestContext) -> MessageStream:
        return MessageStream(ctx)

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        headers = e.response_headers()
        headers["X-Request-ID"] = request_id
        headers["request-id"] = request_id  # where Anthropic's SDKs look for it
        return web.Response(
            status=inbound.error_status(e),
            body=orjson.dumps(inbound.error_body(e, request_id)),
            content_type="application/json",
            headers=headers,
        )


MESSAGES = MessagesFraming()
