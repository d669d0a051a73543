"""The endpoints a batch may target: the URL a line names, the context's endpoint, the
route's own body check, and the dispatcher's handler. A new batchable endpoint is one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aigw.pipeline import Handler
from aigw.server.routes.chat import check_chat
from aigw.server.routes.embeddings import check_embeddings


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    name: str  # RequestContext.endpoint
    check: Callable[[dict[str, Any]], None]  # raises the route's 400 for a bad body
    last: Callable[[Any], Handler]  # the dispatcher's handler ending the chain


ENDPOINTS: dict[str, Endpoint] = {
    e.url: e
    for e in (
        Endpoint("/v1/chat/completions", "chat", check_chat, lambda d: d.chat),
        Endpoint("/v1/embeddings", "embeddings", check_embeddings, lambda d: d.embeddings),
    )
}
