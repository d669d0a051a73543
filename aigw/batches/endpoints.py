"""The endpoints a batch may target: the URL a line names, the context's endpoint, the
route's own body check, the dispatcher's handler, how the answer is written, and what the
route puts on the context before the pipeline. A new batchable endpoint is one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aigw.pipeline import Handler, RequestContext
from aigw.responses.request import check as check_responses
from aigw.responses.turn import Turn, input_items
from aigw.server.framing import Framing
from aigw.server.framing.openai import OPENAI
from aigw.server.framing.responses import RESPONSES
from aigw.server.routes.chat import check_chat
from aigw.server.routes.embeddings import check_embeddings


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    name: str  # RequestContext.endpoint
    check: Callable[[dict[str, Any]], Any]  # raises the route's 400 for a bad body
    last: Callable[[Any], Handler]  # the dispatcher's handler ending the chain
    framing: Framing = OPENAI  # writes the answer's body, as the route does
    prepare: Callable[[RequestContext], None] | None = None  # as the route does


def _responses_turn(ctx: RequestContext) -> None:
    """What POST /v1/responses puts on the context (server/routes/responses.py)."""
    ctx.turn = Turn(ctx.body, needs_openai=check_responses(ctx.body))
    ctx.turn.input = input_items(ctx.body["input"])


ENDPOINTS: dict[str, Endpoint] = {
    e.url: e
    for e in (
        Endpoint("/v1/chat/completions", "chat", check_chat, lambda d: d.chat),
        Endpoint("/v1/embeddings", "embeddings", check_embeddings, lambda d: d.embeddings),
        Endpoint(
            "/v1/responses",
            "responses",
            check_responses,
            lambda d: d.responses,
            RESPONSES,
            _responses_turn,
        ),
    )
}
