"""Anthropic's Messages API, mocked for `aigw mock`: `POST /v1/messages` (a `message`, or its
event stream: message_start, content_block_start/delta/stop, message_delta, message_stop)
and `POST /v1/messages/count_tokens` (`{"input_tokens": N}`), as documented by Anthropic.
Any non-empty `x-api-key` (or bearer token) is accepted: the mock stands in for a provider, it guards nothing."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from aigw.bench.mock_upstream import DEFAULT_TEXT, count_tokens, prompt_text, words


def _error(status: int, type_: str, message: str) -> web.Response:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return web.json_response(body, status=status)


def _prompt(body: dict[str, Any]) -> str:
    system = body.get("system")
    text = prompt_text(body.get("messages") or [])
    if isinstance(system, str):
        text = system + " " + text
    return text


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MockAnthropic:
    def __init__(self, text: str = DEFAULT_TEXT) -> None:
        self.text = text

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    async def _read(self, request: web.Request) -> dict[str, Any] | web.Response:
        if not (request.headers.get("x-api-key") or request.headers.get("Authorization")):
            return _error(401, "authentication_error", "x-api-key header is required")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_request_error", "the body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "invalid_request_error", "messages: Field required")
        return body

    async def count_tokens(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        return web.json_response({"input_tokens": count_tokens(_prompt(body))})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body.get("max_tokens"), int):
            return _error(400, "invalid_request_error", "max_tokens: Field required")
        model = str(body.get("model") or "claude-mock")
        msg_id = "msg_mock" + uuid.uuid4().hex[:20]
        usage = {"input_tokens": count_tokens(_prompt(body)), "output_tokens": 0}
        pieces = words(self.text)
        if not body.get("stream"):
            usage["output_tokens"] = count_tokens(self.text)
            return web.json_response(
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": self.text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        start: dict[str, Any] = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        await resp.write(_event("message_start", {"type": "message_start", "message": start}))
        block = {"type": "text", "text": ""}
        await resp.write(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        for piece in pieces:
            delta = {"type": "text_delta", "text": piece}
            await resp.write(
                _event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            )
        await resp.write(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        end = {"stop_reason": "end_turn", "stop_sequence": None}
        await resp.write(
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": end,
                    "usage": {"output_tokens": count_tokens(self.text)},
                },
            )
        )
        await resp.write(_event("message_stop", {"type": "message_stop"}))
        await resp.write_eof()
        return resp
