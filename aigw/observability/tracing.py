"""OpenTelemetry tracing: off by default; on with `observability.tracing.enabled: true`.

A trace per request: the server span (`chat <model>`, made by the observability stage from
the client's W3C `traceparent` when there is one), a span per pipeline stage (`aigw.<stage>`:
each wraps the stages inside it, so the tree shows where time went), a client span per
upstream attempt (`chat <upstream model>`, whose context is sent upstream as `traceparent`),
and a span per after-the-response callback (`aigw.finish.<callback>`: the usage write,
limiter settlement, cache store). Attributes follow the GenAI semantic conventions
(gen_ai.request.model, gen_ai.usage.input_tokens, ...). Prompts and answers are never put in
spans.

Nothing here is imported or run when tracing is off: the SDK is imported lazily, stages are
not wrapped and no span objects exist, so the off state costs nothing per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aigw.observability import logging as obslog
from aigw.observability.settings import TracingSettings
from aigw.pipeline import Handler, RequestContext, Result, Stage
from aigw.types import GatewayError

log = logging.getLogger("aigw.tracing")


def _trace_id_now() -> str | None:
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    return format(sc.trace_id, "032x") if sc.is_valid else None


def stage_name(stage: Any) -> str:
    return getattr(stage, "name", None) or type(stage).__name__


class Tracing:
    def __init__(self, settings: TracingSettings, service_version: str = "") -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.settings = settings
        attrs = {"service.name": settings.service_name}
        if service_version:
            attrs["service.version"] = service_version
        self.provider = TracerProvider(
            resource=Resource.create(attrs),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
        )
        if settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.add_exporter(
                OTLPSpanExporter(endpoint=settings.endpoint, headers=dict(settings.headers)),
                batch=True,
            )
        elif settings.exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            self.add_exporter(ConsoleSpanExporter(), batch=False)
        self.tracer = self.provider.get_tracer("aigw")
        from opentelemetry import context as otel_context
        from opentelemetry import trace as otel_trace

        self.otel_context, self.otel_trace = otel_context, otel_trace  # imported once, here
        self.propagator = TraceContextTextMapPropagator()
        obslog.trace_id_source = _trace_id_now  # JSON log lines get the current trace id

    def add_exporter(self, exporter: Any, batch: bool = False) -> None:
        """Send finished spans to `exporter` (tests: an InMemorySpanExporter, synchronously)."""
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        proc = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(proc)

    async def stop(self) -> None:
        # Flushing may wait on the network: not on the event loop.
        await asyncio.get_running_loop().run_in_executor(None, self.provider.shutdown)

    def extract(self, headers: Mapping[str, str]) -> Any:
        return self.propagator.extract(headers)

    def inject(self, headers: dict[str, str], span: Any) -> None:
        from opentelemetry import trace

        self.propagator.inject(headers, context=trace.set_span_in_context(span))

    def wrap_stages(self, stages: list[Stage]) -> list[Stage]:
        """Every stage after the observability stage gets its own span."""
        return [s if getattr(s, "traced_root", False) else TracedStage(s, self) for s in stages]

    def wrap_handler(self, handler: Handler, name: str) -> Handler:
        from opentelemetry.trace import get_current_span

        tracer = self.tracer

        async def run(ctx: RequestContext) -> Result:
            if not get_current_span().is_recording():  # sampled out: no child spans
                return await handler(ctx)
            with tracer.start_as_current_span(
                name, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    return await handler(ctx)
                except GatewayError as e:
                    span.set_attribute("error.type", e.code or e.type)
                    raise

        return run


def _get_current_span() -> Any:
    from opentelemetry.trace import get_current_span

    return get_current_span()


class TracedStage:
    """A stage inside a span named after it."""

    def __init__(self, stage: Stage, tracing: Tracing) -> None:
        self.stage = stage
        self.name = stage_name(stage)
        self._span_name = "aigw." + self.name
        self._tracer = tracing.tracer

    def __getattr__(self, item: str) -> Any:  # the wrapped stage's own attributes
        return getattr(self.stage, item)

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        if not _get_current_span().is_recording():  # sampled out: no child spans
            return await self.stage.handle(ctx, call_next)
        with self._tracer.start_as_current_span(
            self._span_name, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                return await self.stage.handle(ctx, call_next)
            except GatewayError as e:
                span.set_attribute("error.type", e.code or e.type)
                raise


def request_attributes(ctx: RequestContext) -> dict[str, Any]:
    """GenAI request attributes: parameters, never message contents."""
    op = "chat" if ctx.endpoint in ("chat", "messages", "responses") else ctx.endpoint
    a: dict[str, Any] = {
        "gen_ai.operation.name": op,
        "gen_ai.request.model": ctx.model,
        "aigw.request_id": ctx.request_id,
        "aigw.endpoint": ctx.endpoint,
    }
    if ctx.stream:
        a["gen_ai.request.stream"] = True
    b = ctx.body
    for key, attr in (
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("max_completion_tokens", "gen_ai.request.max_tokens"),
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("seed", "gen_ai.request.seed"),
    ):
        v = b.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            a[attr] = v
    return a


def result_attributes(ctx: RequestContext, provider_type: str | None) -> dict[str, Any]:
    a: dict[str, Any] = {"http.response.status_code": ctx.status}
    if ctx.provider:
        a["gen_ai.provider.name"] = provider_type or ctx.provider
        a["aigw.provider"] = ctx.provider
    if ctx.deployment:
        a["aigw.deployment"] = ctx.deployment
    if ctx.upstream_model:
        a["gen_ai.response.model"] = ctx.upstream_model
    if ctx.attempts:
        a["aigw.attempts"] = ctx.attempts
    if ctx.cache:
        a["aigw.cache"] = ctx.cache
    u = ctx.usage
    if u is not None:
        a["gen_ai.usage.input_tokens"] = u.prompt_tokens
        a["gen_ai.usage.output_tokens"] = u.completion_tokens
        if u.cached_tokens:
            a["gen_ai.usage.cache_read.input_tokens"] = u.cached_tokens
    if ctx.cost is not None:
        a["aigw.cost_usd"] = ctx.cost
    if ctx.upstream_ms is not None:
        a["aigw.upstream_ms"] = round(ctx.upstream_ms, 3)
    if ctx.ttfb_ms is not None:
        a["gen_ai.response.time_to_first_chunk"] = round(ctx.ttfb_ms / 1000, 6)
    if ctx.error_kind:
        a["error.type"] = ctx.error_kind
    return a
