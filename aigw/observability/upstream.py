"""The hook on the upstream client: per attempt, a metric and (tracing on) a client span
whose context goes upstream as W3C `traceparent`. With tracing off, a `traceparent` the
client sent is passed on unchanged, so the caller's trace still reaches the provider."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aigw.config import ProviderConfig
from aigw.observability.metrics import Metrics, upstream_error_kind
from aigw.observability.stage import current_ctx
from aigw.observability.tracing import Tracing
from aigw.providers.base import UpstreamRequest
from aigw.types import GatewayError

Send = Callable[[ProviderConfig, UpstreamRequest, dict[str, str] | None], Awaitable[Any]]


class UpstreamObserver:
    def __init__(
        self,
        metrics: Metrics | None,
        tracing: Tracing | None,
        provider_types: dict[str, str] | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.provider_types = provider_types or {}
        # Queue waits already shown as spans, per request (id(ctx) -> the queue_ms object).
        self._queue_seen: dict[int, Any] = {}

    async def attempt(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None,
        send: Send,
    ) -> Any:
        ctx = current_ctx.get()
        deployment = (ctx.deployment if ctx is not None else None) or conf.name
        headers = extra_headers  # copied only when something is added
        span = None
        if self.tracing is not None:
            headers = dict(extra_headers) if extra_headers else {}
            from opentelemetry.trace import get_current_span

            current = get_current_span()
            if current.is_recording():
                if ctx is not None:
                    self._queue_span(ctx, deployment)
                span = self._start_span(conf, ctx, deployment)
                self.tracing.inject(headers, span)
            else:  # sampled out: pass the (unsampled) request context on, no spans
                self.tracing.inject(headers, current)
        elif ctx is not None:
            tp = ctx.headers.get("traceparent")
            if tp:
                headers = dict(extra_headers) if extra_headers else {}
                headers["traceparent"] = tp
                ts = ctx.headers.get("tracestate")
                if ts:
                    headers["tracestate"] = ts
        try:
            resp = await send(conf, req, headers)
        except GatewayError as e:
            if self.metrics is not None:
                self.metrics.attempt_finished(conf.name, deployment, None, e.code)
            if span is not None:
                _end_error(span, e.code or e.type)
            raise
        except BaseException:
            if span is not None:
                _end_error(span, "cancelled")
            raise
        status = resp.status
        if self.metrics is not None:
            self.metrics.attempt_finished(conf.name, deployment, status)
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                _end_error(span, upstream_error_kind(status))
            else:
                span.end()
        return resp

    def _queue_span(self, ctx: Any, deployment: str) -> None:
        """The dispatcher notes each wait for a concurrency slot in ctx.extra_log["queue_ms"];
        show a new one as a span ending now, under the dispatch span."""
        q = ctx.extra_log.get("queue_ms")
        if q is None or self._queue_seen.get(id(ctx)) is q:
            return
        self._queue_seen[id(ctx)] = q
        assert self.tracing is not None
        now = time.time_ns()
        span = self.tracing.tracer.start_span(
            "aigw.queue.wait",
            start_time=now - int(q * 1e6),
            attributes={"aigw.deployment": deployment, "aigw.queue_ms": q},
        )
        span.end(end_time=now)

    def forget(self, ctx: Any) -> None:
        self._queue_seen.pop(id(ctx), None)

    def _start_span(self, conf: ProviderConfig, ctx: Any, deployment: str) -> Any:
        from opentelemetry.trace import SpanKind

        assert self.tracing is not None
        model = (ctx.upstream_model if ctx is not None else None) or ""
        op = "chat"
        if ctx is not None and ctx.endpoint == "embeddings":
            op = "embeddings"
        u = urlsplit(conf.base_url)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": self.provider_types.get(conf.name, conf.name),
            "gen_ai.request.model": model,
            "aigw.provider": conf.name,
            "aigw.deployment": deployment,
            "server.address": u.hostname or "",
            "http.request.method": "POST",
        }
        if u.port:
            attrs["server.port"] = u.port
        if ctx is not None:
            attrs["aigw.attempt"] = ctx.attempts
        return self.tracing.tracer.start_span(
            f"{op} {model}".strip(), kind=SpanKind.CLIENT, attributes=attrs
        )


def _end_error(span: Any, kind: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))
    span.end()
