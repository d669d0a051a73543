"""The outermost stage (slot 1): the request's trace span, and its outcome on the context.

The figures themselves are recorded by the server middleware when the response has ended
(`Metrics.request_finished`), so that requests refused before the pipeline (400, 401 from a
bad body, 404, 413) count too. This stage makes sure a refusal from inside the pipeline
leaves its status and kind on the context (`ctx.status`, `ctx.error_kind`, e.g.
"rate_limit_exceeded"), and keeps the context reachable for the per-attempt hook on the
upstream client (`current_ctx`).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from typing import Any

from aigw.observability.metrics import Metrics
from aigw.observability.recent import RecentContents
from aigw.observability.tracing import Tracing, request_attributes, result_attributes
from aigw.pipeline import FinishCallback, Handler, JSONResult, RequestContext, Result, StreamResult
from aigw.types import GatewayError

current_ctx: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "aigw_request_ctx", default=None
)


def note_error(ctx: RequestContext, e: GatewayError) -> None:
    ctx.status = e.status
    if not ctx.error_kind:
        ctx.error_kind = e.code or e.type
    if e.status == 429 and ctx.provider is None:
        # The gateway's own refusal: which limit (the limits stage puts the resource,
        # "requests" or "tokens", in the error type, as OpenAI does).
        ctx.extra_log.setdefault("limit", e.type)


class ObservabilityStage:
    name = "observability"
    traced_root = True  # makes the request's span itself; not wrapped in another

    def __init__(
        self,
        tracing: Tracing | None = None,
        provider_types: dict[str, str] | None = None,
        forget: Callable[[RequestContext], None] | None = None,
        log_prompts: bool = False,
        metrics: Metrics | None = None,
        recent: RecentContents | None = None,
    ) -> None:
        self.tracing = tracing
        self.recent = recent  # log_prompts: the latest contents, for the console
        self.metrics = metrics
        self.log_prompts = log_prompts  # logging.log_prompts: contents in the access line
        self.provider_types = provider_types or {}
        self.forget = forget  # per-request state of the upstream hook, dropped at the end

    async def handle(
        self, ctx: RequestContext, call_next: Handler, untraced: Handler | None = None
    ) -> Result:
        """`untraced`: the same chain without per-stage spans, for requests sampled out
        (`call_next` is then the traced chain; see `Observability.compose`)."""
        token = current_ctx.set(ctx)
        try:
            if self.metrics is not None:
                # Registered before the inner stages' callbacks: runs after them, when the
                # cost (billing) and the cache outcome are known.
                ctx.on_finish(self.metrics.llm_finished)
            if self.recent is not None:
                ctx.on_finish(self.recent.remember)
            if self.tracing is None:
                try:
                    result = await call_next(ctx)
                except GatewayError as e:
                    note_error(ctx, e)
                    raise
            else:
                result = await self._traced(ctx, call_next, untraced or call_next)
        finally:
            current_ctx.reset(token)
        return capture_contents(ctx, result) if self.log_prompts else result

    async def _traced(self, ctx: RequestContext, call_next: Handler, untraced: Handler) -> Result:
        tr = self.tracing
        assert tr is not None
        otel_context, trace = tr.otel_context, tr.otel_trace
        Status, StatusCode = trace.Status, trace.StatusCode
        parent = tr.extract(ctx.headers)
        op = "chat" if ctx.endpoint in ("chat", "messages", "responses") else ctx.endpoint
        span = tr.tracer.start_span(f"{op} {ctx.model}", context=parent, kind=trace.SpanKind.SERVER)
        if span.is_recording():  # attributes only for the requests that are kept
            span.set_attributes(request_attributes(ctx))
        sc = span.get_span_context()
        if sc.is_valid:
            ctx.extra_log["trace_id"] = format(sc.trace_id, "032x")
        ended = False

        def end(c: RequestContext) -> None:
            nonlocal ended
            if ended:
                return
            ended = True
            if self.forget is not None:
                self.forget(c)
            if span.is_recording():
                span.set_attributes(result_attributes(c, self.provider_types.get(c.provider or "")))
                if c.status >= 500:
                    span.set_status(Status(StatusCode.ERROR, c.error_kind or None))
            span.end()

        # Registered before the inner stages' callbacks, so it runs after all of them.
        ctx.on_finish(end)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            result = await (call_next if span.is_recording() else untraced)(ctx)
        except GatewayError as e:
            note_error(ctx, e)
            end(ctx)
            raise
        except BaseException:
            ctx.status = ctx.status or 500
            end(ctx)
            raise
        finally:
            otel_context.detach(token)
        if span.is_recording():
            own = [end, self.metrics.llm_finished] if self.metrics is not None else [end]
            _trace_finish_callbacks(ctx, span, tr, own)
        return result


def capture_contents(ctx: RequestContext, result: Result) -> Result:
    """`logging.log_prompts: true` only: the prompt and the answer go to the access line."""
    b = ctx.body
    ctx.extra_log["prompt"] = b["messages"] if "messages" in b else b.get("input")
    if isinstance(result, JSONResult):
        choices = result.body.get("choices")
        if choices:
            ctx.extra_log["answer"] = [
                (c.get("message") or {}).get("content") for c in choices if isinstance(c, dict)
            ]
        return result
    inner = result.chunks
    parts: list[str] = []

    async def relay() -> AsyncIterator[dict[str, Any]]:
        try:
            async for c in inner:
                for choice in c.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                yield c
        finally:
            ctx.extra_log["answer"] = "".join(parts)
            await inner.aclose()  # type: ignore[attr-defined]

    return StreamResult(relay(), result.native)


def _trace_finish_callbacks(ctx: RequestContext, span: Any, tr: Tracing, own: list[Any]) -> None:
    """Give each after-the-response callback of the inner stages (usage write, limiter
    settlement, cache store) its own span under the request's."""
    from opentelemetry import trace

    parent = trace.set_span_in_context(span)
    tracer = tr.tracer

    def wrap(cb: FinishCallback) -> FinishCallback:
        qual = getattr(cb, "__qualname__", None) or type(cb).__name__
        name = "aigw.finish." + qual.replace(".<locals>", "")

        async def run(c: RequestContext) -> None:
            with tracer.start_as_current_span(name, context=parent):
                r = cb(c)
                if r is not None:
                    await r

        return run

    callbacks = ctx._on_finish
    for i, cb in enumerate(callbacks):
        if not any(cb == o for o in own):  # our own bookkeeping needs no span
            callbacks[i] = wrap(cb)
