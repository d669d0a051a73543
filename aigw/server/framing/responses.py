"""OpenAI's Responses API: the `response` object, its stream as `event: <type>` /
`data: {...}` pairs numbered by `sequence_number`, errors in OpenAI's shape (and mid-stream
an `error` event followed by `response.failed`). The answer written is kept on the turn,
for the conversation store."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import JSONResult, RequestContext
from aigw.responses import translate
from aigw.responses.events import Event, ResponseEvents
from aigw.responses.turn import Turn
from aigw.server.framing.openai import OPENAI
from aigw.types import GatewayError


def sse(events: list[Event]) -> bytes:
    return b"".join(
        b"event: " + ev["type"].encode() + b"\ndata: " + orjson.dumps(ev) + b"\n\n" for ev in events
    )


def native_response(turn: Turn, model: str, upstream: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI upstream's own response, under the gateway's id and with what the client
    sent (the upstream was sent the whole conversation, stateless)."""
    req = turn.request
    return {
        **upstream,
        "id": turn.id,
        "model": model,
        "previous_response_id": req.get("previous_response_id"),
        "store": turn.store,
        "metadata": req.get("metadata") or {},
        "user": req.get("user"),
    }


class ResponseStream:
    __slots__ = ("events",)

    def __init__(self, ctx: RequestContext) -> None:
        self.events = ResponseEvents(ctx.turn, ctx.model)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        return sse(self.events.feed(chunk))

    def end(self) -> bytes:
        return sse(self.events.close())

    def error(self, e: GatewayError) -> bytes:
        return sse(self.events.fail(e))


class ResponsesFraming:
    def answer(self, ctx: RequestContext, result: JSONResult) -> bytes:
        if result.status != 200:
            return result.raw if result.raw is not None else orjson.dumps(result.body)
        turn: Turn = ctx.turn
        if turn.native is not None:
            resp = native_response(turn, ctx.model, turn.native)
        else:
            resp = translate.from_chat(turn, ctx.model, result.body)
        turn.response = resp
        return orjson.dumps(resp)

    def events(self, ctx: RequestContext) -> ResponseStream:
        return ResponseStream(ctx)

    def error(self, e: GatewayError, request_id: str) -> web.Response:
        return OPENAI.error(e, request_id)


RESPONSES = ResponsesFraming()
