"""Prometheus metrics: what every request did, and gauges read from the components.

Labels are bounded by the configuration, never by what a client sends: `model` is a
configured model name or "other", `provider`/`deployment` come from the config, `route` is
the route pattern (not the path), statuses are classes ("2xx"), and `org` appears only with
`observability.metrics.org_label: true`. No key, token or prompt ever becomes a label.

With `aigw serve --workers N` the parent sets PROMETHEUS_MULTIPROC_DIR before forking; every
worker then writes its figures to its own mmap files and whichever worker answers a scrape
reads them all, so one scrape reports the sum over the workers (prometheus-client's
multiprocess mode). Scrape-time gauges (queue length, breaker state, ...) cannot be read from
the other workers at scrape time, so in that mode each worker publishes them every
`gauge_refresh` seconds.

Children of labelled metrics are looked up once and kept in plain dicts, each behind a
`_Count` or `_Hist` that keeps its figures as plain Python numbers: on the hot path a request
costs a few dict lookups and additions, without prometheus-client's lock per value or its
scan of the buckets. `Metrics.fold` writes them to the children before anything reads them
(`exposition`, `samples`), so a scrape sees every request that has finished. In multi-worker
mode the other workers read this worker's mmap files on their own, so it folds every
`gauge_refresh` seconds (with `publish_gauges`), whenever it has no request in flight, and at
`stop`: under load a scrape answered by another worker lags by at most `gauge_refresh`
(1 s by default). Only the event loop's thread touches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from aigw.observability import loop_lag
from aigw.observability.loop_lag import LAG_BUCKETS
from aigw.observability.settings import MetricsSettings

log = logging.getLogger("aigw.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_CACHE_HITS = {"hit": "exact", "exact": "exact", "semantic": "semantic"}
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_REASONS = 32

GaugeValue = float | int | Mapping[Any, float | int]
GaugeFn = Callable[[], GaugeValue]


def status_class(status: int) -> str:
    return _STATUS_CLASS.get(status // 100, "other")


def upstream_error_kind(status: int | None, code: str | None = None) -> str:
    """A failed upstream attempt -> a small fixed set of kinds (the provider_errors label)."""
    if status is None:
        return "timeout" if code == "upstream_timeout" else "unreachable"
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server_error"
    return "bad_request"


@dataclass
class GaugeSource:
    name: str
    fn: GaugeFn
    doc: str
    labels: tuple[str, ...]
    mode: str  # "sum" | "max": how the workers' values combine

    def read(self) -> list[tuple[tuple[str, ...], float]]:
        v = self.fn()
        if isinstance(v, Mapping):
            out = []
            for k, x in v.items():
                key = tuple(str(p) for p in k) if isinstance(k, tuple) else (str(k),)
                out.append((key, float(x)))
            return out
        return [((), float(v))]


class _SourceCollector:
    """Single-process mode: the gauge sources, read at scrape time."""

    def __init__(self, sources: dict[str, GaugeSource]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for s in list(self._sources.values()):
            fam = GaugeMetricFamily(s.name, s.doc, labels=list(s.labels))
            try:
                for labels, v in s.read():
                    fam.add_metric(list(labels), v)
            except Exception:
                log.exception("gauge source failed", extra={"gauge": s.name})
                continue
            yield fam


class _Count:
    """A counter child's value, kept here and written to the child by `fold`."""

    __slots__ = ("_child", "_written", "value")

    def __init__(self, child: Any) -> None:
        self._child = child._value  # prometheus-client's value holder (lock, or mmap file)
        self.value = self._written = self._child.get()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:  # as prometheus-client's Counter.inc
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount

    def fold(self) -> None:
        # The running total, not the increments since the last fold: the floats add up in
        # the same order as in the child, so it reads exactly what it would have.
        if self.value != self._written:
            self._child.set(self.value)
            self._written = self.value


class _Hist:
    """A histogram child's bucket counts and sum, kept here and written to it by `fold`."""

    __slots__ = ("_bounds", "_child", "_written", "counts", "sum")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._bounds = tuple(child._upper_bounds)  # the last is +Inf
        self.counts = [b.get() for b in child._buckets]  # per bucket, not cumulative
        self.sum = child._sum.get()
        self._written = (list(self.counts), self.sum)

    def observe(self, amount: float) -> None:
        # The first bucket whose bound is >= amount: where Histogram.observe counts it.
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.sum += amount

    def fold(self) -> None:
        if (self.counts, self.sum) == self._written:
            return
        for value, n in zip(self._child._buckets, self.counts, strict=True):
            value.set(n)
        self._child._sum.set(self.sum)
        self._written = (list(self.counts), self.sum)


@dataclass(slots=True)
class _Bundle:
    requests: Any
    tokens_in: Any
    tokens_out: Any
    costs: Any
    latency: Any
    ttft: Any


class Metrics:
    def __init__(
        self,
        settings: MetricsSettings,
        model_names: Iterable[str],
        prices: Mapping[str, Mapping[str, float]] | None = None,
        deployment_names: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.models = frozenset(model_names)
        # Label values for `model` and `deployment`: the configured names, plus at most
        # `max_models` `<provider>/<model>` names that an upstream answered; the rest "other".
        self._known = self.models | frozenset(deployment_names)
        self._direct: set[str] = set()
        self.prices = dict(prices or {})  # model -> {input, output} USD per 1M tokens
        self.mp_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if self.mp_dir and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus_client was imported before the variable was set: switch now, before
            # any of our metrics exists.
            values.ValueClass = values.MultiProcessValue()
        # No `<name>_created` series next to every counter and histogram: half the series,
        # and Prometheus does not need them.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=False)
        reg = None if self.mp_dir else self.registry
        self._sources: dict[str, GaugeSource] = {}
        self._mp_gauges: dict[str, tuple[Gauge, set[tuple[str, ...]]]] = {}
        self._refresher: asyncio.Task[None] | None = None
        if not self.mp_dir:
            self.registry.register(_SourceCollector(self._sources))  # type: ignore[arg-type]
        org = ("org",) if settings.org_label else ()
        self._orgs: set[str] = set()
        self._reasons: set[str] = set()

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=reg)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: Any) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=reg)

        # HTTP: every request, whatever the path and however it ended.
        self.http_requests = counter(
            "http_requests_total",
            "HTTP requests answered, by route pattern and status class.",
            ("method", "route", "status_class"),
        )
        self.http_duration = histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its response (streams: the last byte).",
            ("method", "route"),
            LATENCY_BUCKETS,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "Requests being handled right now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        # LLM requests (chat, embeddings): one per pipeline run.
        self.llm_requests = counter(
            "llm_requests_total",
            "LLM requests through the pipeline, by model, provider and status class.",
            ("model", "provider", "status_class", *org),
        )
        self.llm_tokens = counter(
            "llm_tokens_total",
            "Tokens processed by providers (cache hits excluded), by direction.",
            ("model", "provider", "direction", *org),
        )
        self.llm_costs = counter(
            "llm_costs_total", "Cost charged, in USD.", ("model", "provider", *org)
        )
        self.llm_retries = counter(
            "llm_retries_total",
            "Upstream attempts beyond the first (retries and failovers).",
            ("model",),
        )
        self.cache_hits = counter(
            "cache_hit_total", "Requests answered from the cache, by kind.", ("model", "kind")
        )
        self.cache_misses = counter(
            "cache_miss_total", "Cacheable requests the cache could not answer.", ("model",)
        )
        self.cache_saved_tokens = counter(
            "cache_saved_tokens_total",
            "Tokens the cache answered instead of a provider.",
            ("model", "direction"),
        )
        self.cache_savings = counter(
            "cache_savings_total",
            "What the cache hits would have cost upstream, in USD (models with a price).",
            ("model",),
        )
        self.upstream_requests = counter(
            "llm_upstream_requests_total",
            "Upstream attempts, by deployment and outcome (status class or 'failed').",
            ("provider", "deployment", "status_class"),
        )
        self.provider_errors = counter(
            "provider_errors_total",
            "Failed upstream attempts, by provider and kind.",
            ("provider", "kind"),
        )
        self.upstream_latency = histogram(
            "llm_upstream_latency_seconds",
            "Upstream time of the answering attempt (streams: until the last chunk).",
            ("provider", "deployment"),
            LATENCY_BUCKETS,
        )
        self.ttft = histogram(
            "llm_time_to_first_token_seconds",
            "Streams: time from sending upstream to the first chunk.",
            ("provider", "deployment"),
            TTFT_BUCKETS,
        )
        self.queue_wait = histogram(
            "queue_wait_seconds",
            "Time requests waited for a concurrency slot.",
            ("deployment",),
            QUEUE_BUCKETS,
        )
        self.rate_limited = counter(
            "rate_limit_rejections_total",
            "Requests the gateway's own limits rejected (429), by reason and limited resource.",
            ("reason", "resource"),
        )
        self.loop_lag = histogram(
            "event_loop_lag_seconds",
            "How much later than asked the event loop ran a timer (a probe every 50 ms): "
            "stalls of the loop, whatever their cause.",
            (),
            LAG_BUCKETS,
        )
        self._lag_probe: asyncio.Task[None] | None = None
        # Which worker served how much (multi-worker only: a `pid` label per live worker).
        self.worker_requests = (
            Gauge(
                "aigw_worker_llm_requests",
                "LLM requests handled by each live worker (multi-worker mode).",
                registry=reg,
                multiprocess_mode="liveall",
            )
            if self.mp_dir
            else None
        )
        self._org_on = settings.org_label
        self._in_flight = 0
        self._worker_requests = 0
        # Multi-worker mode: the other workers read our files without asking us.
        self._fold_when_idle = self.mp_dir is not None
        self._c: dict[tuple[Any, ...], Any] = {}  # (metric id, labels...) -> _Count | _Hist
        self._bundles: dict[tuple[Any, ...], _Bundle] = {}
        # (model, cache kind or None for a miss) -> the cache metrics' children: bounded.
        self._cache_outcomes: dict[tuple[str, str | None], list[Any]] = {}
        self._attempts: dict[tuple[Any, ...], list[Any]] = {}  # bounded: config x statuses
        # (method, resource, status) -> (counter, histogram): bounded by the routes and the
        # statuses the gateway sends; unmatched paths share resource None.
        self._http: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    # --- children, looked up once ------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._c.get(key)
        if c is None:
            child = metric.labels(*labels)
            c = self._c[key] = _Hist(child) if isinstance(metric, Histogram) else _Count(child)
        return c

    def fold(self) -> None:
        """Write the figures kept since the last fold to the prometheus-client children."""
        for c in self._c.values():
            c.fold()
        self.in_flight.set(self._in_flight)
        if self.worker_requests is not None:
            self.worker_requests.set(self._worker_requests)

    def model_label(self, model: str | None, ok: bool = False) -> str:
        """`model` (or a deployment name) as a label value, from a bounded set. A name the
        config does not know gets its own value only once an upstream answered it (`ok`)
        and while fewer than `max_models` such names have one."""
        if model in self._known or model in self._direct:
            return model  # type: ignore[return-value]
        if ok and model and len(self._direct) < self.settings.max_models:
            self._direct.add(model)
            return model
        return "other"

    def _org(self, org_id: str | None) -> tuple[str, ...]:
        if not self._org_on:
            return ()
        org = org_id or "default"
        if org not in self._orgs:
            if len(self._orgs) >= self.settings.max_orgs:
                return ("other",)
            self._orgs.add(org)
        return (org,)

    def _reason(self, kind: str | None, default: str = "rate_limited") -> str:
        """A code of ours as a label value: checked, and capped in number."""
        r = kind or default
        if r in self._reasons:
            return r
        if not _REASON.match(r) or len(self._reasons) >= _MAX_REASONS:
            return "other"
        self._reasons.add(r)
        return r

    # --- per request -------------------------------------------------------------------

    def request_started(self) -> None:
        self._in_flight += 1

    def request_finished(self, request: Any, status: int, seconds: float, ctx: Any) -> None:
        """Called by the server middleware once the response has ended, for every request
        (`ctx` is unused here: the LLM figures come from `llm_finished`)."""
        self._in_flight -= 1
        resource = request.match_info.route.resource
        key = (request.method, resource, status)
        h = self._http.get(key)
        if h is None:
            route = resource.canonical if resource is not None else "other"
            h = self._http[key] = (
                self._child(self.http_requests, request.method, route, status_class(status)),
                self._child(self.http_duration, request.method, route),
            )
        h[0].inc()
        h[1].observe(seconds)
        if self._fold_when_idle and not self._in_flight:
            self.fold()

    def llm_finished(self, ctx: Any) -> None:
        """A finish callback (registered by the observability stage, so it runs after every
        other stage's: cost and cache outcome are known): the LLM figures of one request."""
        self._llm(ctx, ctx.status or 500)
        if self._fold_when_idle:
            self._worker_requests += 1
            if not self._in_flight:
                self.fold()

    def _bundle(self, model: str, provider: str, deployment: str, status: int, org: tuple) -> Any:
        """The children one kind of request touches, resolved once per label combination."""
        key = (model, provider, deployment, status // 100, org)
        b = self._bundles.get(key)
        if b is None:
            c = self._child
            b = self._bundles[key] = _Bundle(
                requests=c(self.llm_requests, model, provider, status_class(status), *org),
                tokens_in=c(self.llm_tokens, model, provider, "input", *org),
                tokens_out=c(self.llm_tokens, model, provider, "output", *org),
                costs=c(self.llm_costs, model, provider, *org),
                latency=c(self.upstream_latency, provider, deployment),
                ttft=c(self.ttft, provider, deployment),
            )
        return b

    def _cache_children(self, model: str, kind: str | None) -> list[Any]:
        """A hit's children (hits, saved input and output tokens, savings once there are
        any) for `kind`, or a miss's (kind None): looked up once per model and kind."""
        key = (model, kind)
        c = self._cache_outcomes.get(key)
        if c is None:
            ch = self._child
            c = self._cache_outcomes[key] = (
                [
                    ch(self.cache_hits, model, kind),
                    ch(self.cache_saved_tokens, model, "input"),
                    ch(self.cache_saved_tokens, model, "output"),
                    None,
                ]
                if kind is not None
                else [ch(self.cache_misses, model)]
            )
        return c

    def _llm(self, ctx: Any, status: int) -> None:
        ok = status < 400
        model = self.model_label(ctx.model, ok)
        provider = ctx.provider or "none"
        org = self._org(ctx.principal.org_id) if self._org_on else ()
        dep = self.model_label(ctx.deployment, ok) if ctx.deployment else "none"
        b = self._bundle(model, provider, dep, status, org)
        b.requests.inc()
        kind = _CACHE_HITS.get(ctx.cache) if ctx.cache else None
        u = ctx.usage
        if kind is not None:
            c = self._cache_children(model, kind)
            c[0].inc()
            if u is not None:
                c[1].inc(u.prompt_tokens)
                c[2].inc(u.completion_tokens)
                saved = self.savings(ctx)
                if saved:
                    if c[3] is None:  # a series only for models whose hits saved money
                        c[3] = self._child(self.cache_savings, model)
                    c[3].inc(saved)
        else:
            if ctx.cache == "miss":
                self._cache_children(model, None)[0].inc()
            if u is not None and ctx.provider:
                b.tokens_in.inc(u.prompt_tokens)
                b.tokens_out.inc(u.completion_tokens)
                if u.cached_tokens:
                    self._child(self.llm_tokens, model, provider, "cached_input", *org).inc(
                        u.cached_tokens
                    )
            if ctx.deployment:
                if ctx.upstream_ms is not None:
                    b.latency.observe(ctx.upstream_ms / 1000)
                if ctx.ttfb_ms is not None:
                    b.ttft.observe(ctx.ttfb_ms / 1000)
        if ctx.cost:
            b.costs.inc(ctx.cost)
        if ctx.attempts > 1:
            self._child(self.llm_retries, model).inc(ctx.attempts - 1)
        if status == 429 and ctx.provider is None:
            resource = self._reason(ctx.extra_log.get("limit"), "unknown")
            self._child(self.rate_limited, self._reason(ctx.error_kind), resource).inc()
        if ctx.extra_log:
            qms = ctx.extra_log.get("queue_ms")
            if qms is not None:
                self._child(self.queue_wait, dep).observe(qms / 1000)

    def savings(self, ctx: Any) -> float:
        """USD a cache hit saved: its usage at the model's price (`prices`), 0 without one."""
        p = self.prices.get(ctx.model)
        u = ctx.usage
        if not p or u is None:
            return 0.0
        return (
            u.prompt_tokens * p.get("input", 0.0) + u.completion_tokens * p.get("output", 0.0)
        ) / 1e6

    def attempt_finished(
        self, provider: str, deployment: str, status: int | None, code: str | None = None
    ) -> None:
        """One upstream attempt ended (headers received, or a transport failure)."""
        deployment = self.model_label(deployment, status is not None and status < 400)
        key = (provider, deployment, status, code)
        children = self._attempts.get(key)
        if children is None:
            cls = status_class(status) if status is not None else "failed"
            children = [self._child(self.upstream_requests, provider, deployment, cls)]
            if status is None or status >= 400:
                kind = upstream_error_kind(status, code)
                children.append(self._child(self.provider_errors, provider, kind))
            self._attempts[key] = children
        for c in children:
            c.inc()

    def observe_queue_wait(self, deployment: str, seconds: float) -> None:
        self._child(self.queue_wait, self.model_label(deployment)).observe(seconds)

    # --- scrape-time gauges ------------------------------------------------------------

    def register_gauge_source(
        self,
        name: str,
        fn: GaugeFn,
        doc: str = "",
        labels: Iterable[str] = (),
        mode: str = "sum",
    ) -> None:
        """Expose `fn()` as the gauge `name`, read at scrape time. `fn` returns a number, or
        a mapping from label value (a str, or a tuple for several labels) to number. With
        several workers the values are summed (`mode="sum"`) or the largest is kept
        (`mode="max"`, e.g. breaker state)."""
        if mode not in ("sum", "max"):
            raise ValueError(f"mode must be 'sum' or 'max', not {mode!r}")
        src = GaugeSource(name, fn, doc or name, tuple(labels), mode)
        self._sources[name] = src
        if self.mp_dir and name not in self._mp_gauges:
            g = Gauge(
                name,
                src.doc,
                src.labels,
                registry=None,
                multiprocess_mode="livemax" if mode == "max" else "livesum",
            )
            self._mp_gauges[name] = (g, set())

    def publish_gauges(self) -> None:
        """Multi-worker mode: write this worker's figures and gauge-source values to its
        mmap files."""
        self.fold()
        for name, src in list(self._sources.items()):
            g, seen = self._mp_gauges[name]
            try:
                now = src.read()
            except Exception:
                log.exception("gauge source failed", extra={"gauge": name})
                continue
            current = set()
            for labels, v in now:
                (g.labels(*labels) if labels else g).set(v)
                current.add(labels)
            for gone in seen - current:  # mmap entries cannot be removed: zero them
                (g.labels(*gone) if gone else g).set(0)
            self._mp_gauges[name] = (g, current)

    async def start(self) -> None:
        if self._lag_probe is None:
            self._lag_probe = asyncio.create_task(loop_lag.probe(self.loop_lag.observe))
        if self.mp_dir and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._lag_probe is not None:
            self._lag_probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_probe
            self._lag_probe = None
        if self._refresher is not None:
            self._refresher.cancel()
            try:
                await self._refresher
            except asyncio.CancelledError:
                pass
            self._refresher = None
        self.fold()  # multi-worker mode: a stopped worker's counters stay for a last scrape

    async def _refresh_loop(self) -> None:
        while True:
            self.publish_gauges()
            await asyncio.sleep(self.settings.gauge_refresh)

    # --- reading -----------------------------------------------------------------------

    def _mp_registry(self) -> CollectorRegistry:
        reg = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(reg, self.mp_dir)
        return reg

    async def exposition(self) -> bytes:
        """The Prometheus text format of every metric (all workers in multi-worker mode).
        Gauge sources are read on the event loop (they look at live component state); the
        workers' files are read and merged in a thread, off the loop."""
        if not self.mp_dir:
            self.fold()
            return generate_latest(self.registry)
        self.publish_gauges()  # this worker's figures are fresh; the others' within a refresh
        return await asyncio.to_thread(lambda: generate_latest(self._mp_registry()))

    async def samples(self) -> list[tuple[str, dict[str, str], float]]:
        if not self.mp_dir:
            self.fold()
            return _flatten(self.registry)
        self.publish_gauges()
        return await asyncio.to_thread(lambda: _flatten(self._mp_registry()))


def _flatten(reg: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for fam in reg.collect() for s in fam.samples]
