"""The Responses API's stage (on /v1/responses only, right after auth). On the way in it
loads the conversation a `previous_response_id` names (the caller's organisation only) and
makes the chat body every later stage and every provider adapter reads. On the way out it
turns the chat answer (or an OpenAI upstream's own response) into the `response` object or
its `response.*` events, and stores it (`store`, OpenAI's default true) before the client
can see it complete, so the next turn, on any instance, finds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from aigw.cache.replay import chunks_to_completion, completion_to_chunks, replay
from aigw.component import StageComponent
from aigw.pipeline import (
    Handler,
    JSONResult,
    NativeEvents,
    RequestContext,
    Result,
    StreamResult,
)
from aigw.responses import translate
from aigw.responses.events import Event, ResponseEvents
from aigw.responses.settings import ResponsesConfig
from aigw.responses.store import ResponsesStore
from aigw.responses.turn import Turn
from aigw.store.base import Store

ENDPOINTS = frozenset({"responses"})


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


class Conversations(StageComponent):
    def __init__(self, store: Store, settings: ResponsesConfig) -> None:
        self.store = ResponsesStore(store, settings)

    @property
    def endpoints(self) -> frozenset[str]:
        return ENDPOINTS

    async def start(self) -> None:
        await self.store.start()

    async def stop(self) -> None:
        await self.store.stop()

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        turn: Turn = ctx.turn
        prev = turn.request.get("previous_response_id")
        if prev:
            turn.history = await self.store.history(ctx.principal.org_id, prev)
        ctx.body = translate.to_chat(turn, ctx.stream)
        result = await call_next(ctx)
        if isinstance(result, JSONResult):
            if result.status != 200:
                return result
            if ctx.stream:  # a whole answer for a stream (e.g. replayed): its chunks
                return StreamResult(self._events(ctx, replay(completion_to_chunks(result.body))))
            if result.native is not None:
                resp = native_response(turn, ctx.model, result.native)
            else:
                resp = translate.from_chat(turn, ctx.model, result.body)
            await self._keep(ctx, resp)
            return JSONResult(resp)
        if not ctx.stream:  # a stream for a request that asked for none: the answer it spells
            completion = chunks_to_completion([c async for c in result.chunks])
            resp = translate.from_chat(turn, ctx.model, completion)
            await self._keep(ctx, resp)
            return JSONResult(resp)
        if result.native is not None:
            return StreamResult(self._native_events(ctx, result.chunks, result.native))
        return StreamResult(self._events(ctx, result.chunks))

    async def _native_events(
        self, ctx: RequestContext, chunks: AsyncIterator[dict[str, Any]], native: NativeEvents
    ) -> AsyncIterator[Event]:
        """An OpenAI upstream's own events, passed on as they come (the chunks only drive
        the stages inside), each response in them under the gateway's id; the response is
        stored before `response.completed` is passed on."""
        turn: Turn = ctx.turn
        events = turn.events = ResponseEvents(turn, ctx.model)  # numbering for an error
        try:
            async for _ in chunks:
                for _name, data in native.take():
                    ev = orjson.loads(data)
                    if not isinstance(ev, dict) or ev.get("type") == "error":
                        continue  # the upstream's error reaches the client as the writer's
                    if isinstance(ev.get("response"), dict):
                        ev["response"] = native_response(turn, ctx.model, ev["response"])
                        if ev.get("type") in ("response.completed", "response.incomplete"):
                            await self._keep(ctx, ev["response"])
                    seq = ev.get("sequence_number")
                    if isinstance(seq, int):
                        events.seq = seq + 1
                    events.started = True
                    yield ev
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _events(
        self, ctx: RequestContext, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[Event]:
        """Chat chunks in, Responses events out; the response is stored before
        `response.completed` is sent. An upstream error goes up to the writer, which ends the
        stream with the framing's `error` and `response.failed` (`turn.events`)."""
        turn: Turn = ctx.turn
        events = turn.events = ResponseEvents(turn, ctx.model)
        try:
            async for chunk in chunks:
                for ev in events.feed(chunk):
                    yield ev
            closing = events.close()
            assert turn.response is not None
            await self._keep(ctx, turn.response)
            for ev in closing:
                yield ev
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _keep(self, ctx: RequestContext, resp: dict[str, Any]) -> None:
        turn: Turn = ctx.turn
        turn.response = resp
        if turn.store and resp["status"] in ("completed", "incomplete"):
            await self.store.put(
                ctx.principal.org_id, resp, turn.input, turn.request.get("previous_response_id")
            )
