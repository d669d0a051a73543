"""Observability as one component: built from the config by the gateway, it owns the
metrics, the tracer, the outermost stage and the upstream-client hook."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aigw.config import Config
from aigw.observability.metrics import Metrics
from aigw.observability.recent import RecentContents
from aigw.observability.stage import ObservabilityStage
from aigw.observability.tracing import Tracing
from aigw.observability.upstream import UpstreamObserver
from aigw.pipeline import Handler, RequestContext, Result, Stage, compose

if TYPE_CHECKING:
    from aigw.server.gateway import Gateway


def model_names(config: Config) -> list[str]:
    """The `model` label's values: configured models and cost routers (e.g. "auto")."""
    return [*config.models, *(getattr(config, "routers", None) or {})]


def model_prices(config: Config) -> dict[str, dict[str, float]]:
    """Model -> the price of its first deployment that has one (for cache savings)."""
    out: dict[str, dict[str, float]] = {}
    for name, m in config.models.items():
        for d in m.deployments:
            if d.price:
                out[name] = d.price
                break
    return out


BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def wire_components(metrics: Metrics, gw: Gateway) -> list[str]:
    """Plug in what the other components expose (called at start, when all exist): the
    dispatcher's per-deployment snapshot, the limits' gauges, the usage writer's spool, the
    in-process cache's size, the billing price table (cache savings). Returns the gauge
    names registered."""
    dispatcher: Any = getattr(gw, "dispatcher", None)
    if hasattr(dispatcher, "snapshot"):
        _wire_routing(metrics, dispatcher.snapshot)
    limits: Any = getattr(gw, "limits", None)
    if hasattr(limits, "register_metrics"):
        limits.register_metrics(metrics)
    accounts = getattr(gw, "accounts", None)
    writer = getattr(accounts, "usage", None)
    if writer is not None:
        _wire_usage_writer(metrics, writer)
    store = getattr(getattr(gw, "cache", None), "store", None)
    if store is not None and hasattr(store, "__len__") and hasattr(store, "bytes"):
        # The in-process cache store (a Redis store is measured on Redis itself).
        metrics.register_gauge_source(
            "cache_entries", lambda: len(store), "Answers held in the in-process cache."
        )
        metrics.register_gauge_source(
            "cache_bytes", lambda: store.bytes, "Bytes held in the in-process cache."
        )
    pricer = getattr(accounts, "pricer", None)
    if pricer is not None:
        # Overrides the method on this instance (mypy does not model per-instance methods).
        metrics.savings = _savings_with(pricer)  # type: ignore[method-assign,assignment]
    return list(metrics._sources)


def _savings_with(pricer: Any) -> Callable[[Any], float]:
    from aigw.billing.cost import usage_cost

    def savings(ctx: Any) -> float:
        p = pricer.price(ctx.deployment, ctx.model)
        return usage_cost(ctx.usage, p) if p is not None and ctx.usage is not None else 0.0

    return savings


def _wire_usage_writer(metrics: Metrics, writer: Any) -> None:
    snap = getattr(writer, "snapshot", None)
    if snap is not None:  # the writer's own figures, when it has them
        # Workers each hold their own backlog (summed) but share one spool directory (max).
        for key, doc, mode in (
            ("backlog", "Usage records accepted but not yet in the database.", "sum"),
            ("spool_bytes", "Bytes of usage records spooled on disk.", "max"),
        ):
            name = "usage_writer_backlog" if key == "backlog" else "usage_spool_bytes"

            def figure(k: str = key) -> float:  # a def: mypy cannot type a lambda's defaults
                return snap().get(k, 0)

            metrics.register_gauge_source(name, figure, doc, mode=mode)
    else:
        spool = Path(writer.dir)

        def spool_bytes() -> float:
            # Segments not yet confirmed in the database (a few files: cheap to stat).
            total = 0
            for p in spool.glob("usage-*.jsonl"):
                try:
                    total += p.stat().st_size
                except FileNotFoundError:
                    pass
            return float(total)

        metrics.register_gauge_source(
            "usage_spool_bytes",
            spool_bytes,
            "Bytes of usage records on disk not yet confirmed in the database.",
            mode="max",  # the workers share one spool directory
        )
    if hasattr(writer, "db_up"):
        metrics.register_gauge_source(
            "usage_store_up",
            lambda: 1.0 if writer.db_up else 0.0,
            "1 while the usage writer reaches the database, 0 while it spools.",
            mode="max",
        )


def _wire_routing(metrics: Metrics, snap: Callable[[], dict[str, dict[str, Any]]]) -> None:
    def field(
        name: str,
        conv: Callable[[Any], float | None] = float,
        combine: Callable[[float, float], float] = operator.add,
    ) -> Callable[[], Any]:
        def read() -> dict[str, float]:
            out: dict[str, float] = {}
            for dep, st in snap().items():
                v = st.get(name)
                v = conv(v) if v is not None else None
                if v is not None:
                    # `<provider>/<model>` deployments past the label cap share "other"
                    label = metrics.model_label(dep)
                    out[label] = combine(out[label], v) if label in out else v
            return out

        return read

    dep = ("deployment",)
    metrics.register_gauge_source(
        "queue_length", field("queued"), "Requests waiting for a concurrency slot.", dep
    )
    metrics.register_gauge_source(
        "deployment_in_flight", field("in_flight"), "Upstream calls in progress.", dep
    )
    metrics.register_gauge_source(
        "deployment_concurrency_limit",
        field("limit", combine=max),
        "Configured concurrency cap (max_concurrency).",
        dep,
        mode="max",
    )
    metrics.register_gauge_source(
        "breaker_state",
        field("breaker_state", BREAKER_STATES.get, max),
        "Circuit breaker: 0 closed, 1 half-open, 2 open.",
        dep,
        mode="max",
    )
    metrics.register_gauge_source(
        "breaker_trips",
        field("breaker_trips"),
        "Times the breaker opened since start (per live worker, summed).",
        dep,
    )
    metrics.register_gauge_source(
        "queue_rejected_requests",
        field("queue_rejected"),
        "Requests refused because no slot freed in time, since start (live workers).",
        dep,
    )


class Observability:
    def __init__(self, config: Config) -> None:
        s = config.observability
        self.settings = s
        self.metrics = (
            Metrics(
                s.metrics,
                model_names(config),
                model_prices(config),
                [d.name for m in config.models.values() for d in m.deployments],
            )
            if s.metrics.enabled
            else None
        )
        self.tracing = Tracing(s.tracing) if s.tracing.enabled else None
        types = {n: p.type for n, p in config.providers.items()}
        on = self.metrics is not None or self.tracing is not None
        self.upstream = UpstreamObserver(self.metrics, self.tracing, types) if on else None
        log_prompts = config.logging.log_prompts
        self.recent_contents = RecentContents() if log_prompts else None
        self.stage: Stage | None = (
            ObservabilityStage(
                self.tracing,
                types,
                self.upstream.forget if self.upstream else None,
                log_prompts=log_prompts,
                metrics=self.metrics,
                recent=self.recent_contents,
            )
            if on or log_prompts
            else None
        )

    def install(self, gw: Gateway) -> None:
        """Hook into the gateway: per-attempt observer on the upstream client, lifecycle."""
        gw.client.observer = self.upstream
        if self.metrics is not None:
            metrics = self.metrics

            async def start() -> None:
                wire_components(metrics, gw)  # every component exists by now
                await metrics.start()

            gw.on_start(start)
            gw.on_stop(self.metrics.stop)
        if self.tracing is not None:
            gw.on_stop(self.tracing.stop)

    def compose(self, stages: list[Stage], last: Handler, name: str = "aigw.dispatch") -> Handler:
        """`pipeline.compose`; with tracing on, the stages inside the observability stage are
        composed twice: with a span each (sampled requests) and bare (the others)."""
        stage = self.stage
        if self.tracing is None or not isinstance(stage, ObservabilityStage):
            return compose(stages, last)
        i = stages.index(stage)
        inner = stages[i + 1 :]
        plain = compose(inner, last)
        traced = compose(self.tracing.wrap_stages(inner), self.tracing.wrap_handler(last, name))

        async def observed(ctx: RequestContext) -> Result:
            return await stage.handle(ctx, traced, plain)

        return compose(stages[:i], observed)
