"""OpenAI's chat completions and embeddings: the answer as JSON, chunks as `data: {...}`,
`data: [DONE]` at the end, errors as `{"error": {message, type, param, code}}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import JSONResult, NativeEvents, RequestContext
from aigw.types import GatewayError

DONE = b"data: [DONE]\n\n"


class ChatEvents:
    __slots__ = ("want_usage",)

    def __init__(self, want_usage: bool) -> None:
        self.want_usage = want_usage

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        if not self.want_usage and "usage" in chunk:
            if not chunk.get("choices"):
                return b""  # the usage-only chunk the gateway asked for itself
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def end(self) -> bytes:
        return DONE

    def error(self, e: GatewayError) -> bytes:
        return b"data: " + e.to_json() + b"\n\n"  # as OpenAI sends one mid-stream


class OpenAIFraming:
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        return result.raw if result.raw is not None else orjson.dumps(result.body)

    def events(self, ctx: RequestContext, native: NativeEvents | None) -> ChatEvents:
        return ChatEvents(bool((ctx.body.get("stream_options") or {}).get("include_usage")))

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        headers = e.response_headers()
        headers["X-Request-ID"] = request_id
        return web.Response(
            status=e.status, body=e.to_json(), content_type="application/json", headers=headers
        )


OPENAI = OpenAIFraming()
