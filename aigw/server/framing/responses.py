"""OpenAI's Responses API: the `response` object, its stream as `event: <type>` /
`data: {...}` pairs numbered by `sequence_number`, errors in OpenAI's shape (and mid-stream
an `error` event followed by `response.failed`). The Responses stage
(`responses/stage.py`) has made the response and its events; this only writes them."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import JSONResult, NativeEvents, RequestContext
from aigw.responses.events import Event, ResponseEvents
from aigw.responses.turn import Turn
from aigw.server.framing.openai import OPENAI
from aigw.types import GatewayError


def sse(event: Event) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponseStream:
    __slots__ = ("model", "turn")

    def __init__(self, turn: Turn, model: str) -> None:
        self.turn = turn
        self.model = model

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        return sse(chunk)

    def end(self) -> bytes:
        return b""  # response.completed was the last event

    def error(self, e: GatewayError) -> bytes:
        events = self.turn.events or ResponseEvents(self.turn, self.model)
        return b"".join(sse(ev) for ev in events.fail(e))


class ResponsesFraming:
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        return result.raw if result.raw is not None else orjson.dumps(result.body)

    def events(self, ctx: RequestContext, native: NativeEvents | None) -> ResponseStream:
        return ResponseStream(ctx.turn, ctx.model)

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        return OPENAI.error(e, request_id)


RESPONSES = ResponsesFraming()
