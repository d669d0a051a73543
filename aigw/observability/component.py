"""Observability as one component: built from the config by the gateway, it owns the
metrics, the tracer, the outermost stage and the upstream-client hook."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aigw.billing.cost import Pricer, usage_cost
from aigw.component import Component, Gauge
from aigw.config import Config
from aigw.observability.metrics import Metrics
from aigw.observability.recent import RecentContents
from aigw.observability.stage import ObservabilityStage
from aigw.observability.tracing import Tracing
from aigw.observability.upstream import UpstreamObserver
from aigw.pipeline import Handler, RequestContext, Result, Stage, compose


def model_names(config: Config) -> list[str]:
    """The `model` label's values: configured models and cost routers (e.g. "auto")."""
    return [*config.models, *config.routers]


def model_prices(config: Config) -> dict[str, dict[str, float]]:
    """Model -> the price of its first deployment that has one (for cache savings)."""
    out: dict[str, dict[str, float]] = {}
    for name, m in config.models.items():
        for d in m.deployments:
            if d.price:
                out[name] = d.price
                break
    return out


def _savings_with(pricer: Pricer) -> Callable[[Any], float]:
    def savings(ctx: Any) -> float:
        p = pricer.price(ctx.deployment, ctx.model)
        return usage_cost(ctx.usage, p) if p is not None and ctx.usage is not None else 0.0

    return savings


def _bounded(metrics: Metrics, g: Gauge) -> Any:
    """A per-deployment gauge whose `<provider>/<model>` deployments past the label cap
    (`observability.metrics.max_models`) share the value "other", combined as workers
    combine it (summed, or the largest)."""
    combine: Callable[[float, float], float] = max if g.mode == "max" else float.__add__

    def read() -> dict[str, float]:
        values = g.read()
        assert isinstance(values, Mapping)
        out: dict[str, float] = {}
        for dep, v in values.items():
            label = metrics.model_label(dep)
            out[label] = combine(out[label], float(v)) if label in out else float(v)
        return out

    return read


class Observability(Component):
    """Built first of the request's stages; `watch` gives it every component's gauges. With
    a `pricer` (billing's), a cache hit's savings are priced as billing prices answers."""

    def __init__(self, config: Config, pricer: Pricer | None = None) -> None:
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
        if self.metrics is not None and pricer is not None:
            # Overrides the method on this instance (mypy does not model per-instance methods).
            self.metrics.savings = _savings_with(pricer)  # type: ignore[method-assign,assignment]
        log_prompts = config.logging.log_prompts
        self.recent_contents = RecentContents() if log_prompts else None
        self._stage: Stage | None = (
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

    @property
    def stage(self) -> Stage | None:
        return self._stage

    def watch(self, parts: Iterable[Component]) -> None:
        """Report every part's gauges (read at scrape time)."""
        if self.metrics is None:
            return
        for part in parts:
            for g in part.gauges():
                read = _bounded(self.metrics, g) if "deployment" in g.labels else g.read
                self.metrics.register_gauge_source(g.name, read, g.doc, g.labels, g.mode)

    async def start(self) -> None:
        if self.metrics is not None:
            await self.metrics.start()

    async def stop(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
        if self.tracing is not None:
            await self.tracing.stop()

    def compose(self, stages: list[Stage], last: Handler, name: str = "aigw.dispatch") -> Handler:
        """`pipeline.compose`; with tracing on, the stages inside the observability stage are
        composed twice: with a span each (sampled requests) and bare (the others)."""
        stage = self._stage
        if self.tracing is None or not isinstance(stage, ObservabilityStage):
            return compose(stages, last)
        i = stages.index(stage)
        inner = stages[i + 1 :]
        plain = compose(inner, last)
        traced = compose(self.tracing.wrap_stages(inner), self.tracing.wrap_handler(last, name))

        async def observed(ctx: RequestContext) -> Result:
            return await stage.handle(ctx, traced, plain)

        return compose(stages[:i], observed)
