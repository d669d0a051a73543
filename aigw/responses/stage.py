"""The Responses API's stage (on /v1/responses only, right after auth): it loads the
conversation a `previous_response_id` names (the caller's organisation only), makes the
chat body every later stage and every provider adapter reads, and stores the answer once
it has been written (`store`, OpenAI's default true)."""

from __future__ import annotations

from aigw.component import StageComponent
from aigw.pipeline import Handler, RequestContext, Result
from aigw.responses import translate
from aigw.responses.settings import ResponsesConfig
from aigw.responses.store import ResponsesStore
from aigw.store.base import Store

ENDPOINTS = frozenset({"responses"})


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
        turn = ctx.turn
        prev = turn.request.get("previous_response_id")
        if prev:
            turn.history = await self.store.history(ctx.principal.org_id, prev)
        ctx.body = translate.to_chat(turn, ctx.stream)
        if turn.store:
            ctx.on_finish(self._keep)
        return await call_next(ctx)

    async def _keep(self, ctx: RequestContext) -> None:
        turn = ctx.turn
        resp = turn.response
        if ctx.status != 200 or resp is None or resp["status"] not in ("completed", "incomplete"):
            return
        await self.store.put(
            ctx.principal.org_id, resp, turn.input, turn.request.get("previous_response_id")
        )
