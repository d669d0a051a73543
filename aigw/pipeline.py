"""The request's way through the gateway: a context, the result types, and the stage chain.

Every stage is an object with `async def handle(ctx, call_next) -> Result`. Stages are composed
once at start-up (see `server/app.py`), outermost first: auth -> limits -> cache -> dispatch.
A stage may answer by itself (a cache hit, a 429), or call the next one and look at or wrap
what comes back. Work that must wait until a response has fully reached the client (usage
records, limiter settlement, storing a streamed answer) is registered with `ctx.on_finish`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from aigw.types import Principal, Usage


@dataclass(slots=True)
class JSONResult:
    """A complete, non-streamed answer (OpenAI shape). `raw` is the upstream's bytes when the
    gateway passes them through unchanged, so they need not be serialised again. `native`:
    the upstream's own answer when it speaks the client's format (`ctx.native`), which the
    endpoint sends instead of a translation."""

    body: dict[str, Any]
    status: int = 200
    raw: bytes | None = None
    native: dict[str, Any] | None = None


class NativeEvents:
    """The upstream's own stream events (SSE name and data, in order) when it speaks the
    client's format: filled as they arrive, taken by the endpoint after each chunk."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: list[tuple[str | None, bytes]] = []

    def add(self, event: str | None, data: bytes) -> None:
        self._events.append((event, data))

    def take(self) -> list[tuple[str | None, bytes]]:
        events, self._events = self._events, []
        return events


@dataclass(slots=True)
class StreamResult:
    """A streamed answer: OpenAI `chat.completion.chunk` dicts, in order, as they arrive
    (and, as for JSONResult, the upstream's own events when it speaks the client's format)."""

    chunks: AsyncIterator[dict[str, Any]]
    native: NativeEvents | None = None


Result = JSONResult | StreamResult

_ANONYMOUS = Principal()

FinishCallback = Callable[["RequestContext"], Awaitable[None] | None]


@dataclass(slots=True)
class RequestContext:
    request_id: str
    endpoint: str  # "chat" | "embeddings" | "messages"
    body: dict[str, Any]  # the client's request, OpenAI shape
    headers: Mapping[str, str]  # the client's request headers
    model: str  # the model name the client asked for
    stream: bool = False
    # Until the auth stage says who it is. Principals are never changed once made, so every
    # context shares one anonymous principal instead of building its own.
    principal: Principal = field(default_factory=lambda: _ANONYMOUS)
    started: float = field(default_factory=time.perf_counter)
    deadline: float | None = None  # perf_counter() time after which the request must not start
    priority: int = 0
    # The client's request in its own format when that is not OpenAI's (/v1/messages: the
    # Anthropic request `body` was translated from). A deployment whose provider speaks it
    # (capability MESSAGES) is sent this instead, and answers with a result's `native`.
    native: dict[str, Any] | None = None
    batch_id: str | None = None  # a line of this batch job (aigw/batches), not a client's
    # Filled on the way through:
    usage: Usage | None = None
    status: int = 0  # the final status, set once the answer (or error) has been sent
    error_kind: str | None = None
    cache: str | None = None  # "hit" | "semantic" | "miss" | "bypass"
    provider: str | None = None
    deployment: str | None = None
    upstream_model: str | None = None
    upstream_ms: float | None = None
    ttfb_ms: float | None = None  # time to first streamed byte from upstream
    attempts: int = 0
    cost: float | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    extra_log: dict[str, Any] = field(default_factory=dict)
    turn: Any = None  # /v1/responses: the conversation turn (aigw/responses/turn.py)
    _on_finish: list[FinishCallback] = field(default_factory=list)

    def on_finish(self, cb: FinishCallback) -> None:
        self._on_finish.append(cb)

    async def finish(self) -> None:
        """Run the finish callbacks once, innermost stage first; one failing does not stop
        the others (each stage logs its own failures)."""
        callbacks, self._on_finish = self._on_finish, []
        for cb in reversed(callbacks):
            try:
                r = cb(self)
                if r is not None:
                    await r
            except Exception:  # a bug in one stage's bookkeeping must not hide the others'
                import logging

                logging.getLogger("aigw").exception("finish callback failed")


Handler = Callable[[RequestContext], Awaitable[Result]]


class Stage(Protocol):
    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result: ...


def compose(stages: list[Stage], last: Handler) -> Handler:
    """Build one handler from the stages, outermost first. Each link is a partial of the
    stage's own `handle` (not a wrapper coroutine): one coroutine frame per stage per request."""
    handler = last
    for stage in reversed(stages):
        handler = partial(stage.handle, call_next=handler)
    return handler
