"""Observability as one component: built from the config by the gateway, it owns the
metrics, the tracer, the outermost stage and the upstream-client hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aigw.config import Config
from aigw.observability.metrics import Metrics
from aigw.observability.stage import ObservabilityStage
from aigw.observability.tracing import Tracing
from aigw.observability.upstream import UpstreamObserver
from aigw.pipeline import Handler, Stage, compose

if TYPE_CHECKING:
    from aigw.server.gateway import Gateway


def model_prices(config: Config) -> dict[str, dict[str, float]]:
    """Model -> the price of its first deployment that has one (for cache savings)."""
    out: dict[str, dict[str, float]] = {}
    for name, m in config.models.items():
        for d in m.deployments:
            if d.price:
                out[name] = d.price
                break
    return out


class Observability:
    def __init__(self, config: Config) -> None:
        s = config.observability
        self.settings = s
        self.metrics = (
            Metrics(s.metrics, config.models.keys(), model_prices(config))
            if s.metrics.enabled
            else None
        )
        self.tracing = Tracing(s.tracing) if s.tracing.enabled else None
        types = {n: p.type for n, p in config.providers.items()}
        on = self.metrics is not None or self.tracing is not None
        self.upstream = UpstreamObserver(self.metrics, self.tracing, types) if on else None
        self.stage: Stage | None = (
            ObservabilityStage(self.tracing, types, self.upstream.forget) if self.upstream else None
        )

    def install(self, gw: Gateway) -> None:
        """Hook into the gateway: per-attempt observer on the upstream client, lifecycle."""
        gw.client.observer = self.upstream
        if self.metrics is not None:
            gw.on_start(self.metrics.start)
            gw.on_stop(self.metrics.stop)
        if self.tracing is not None:
            gw.on_stop(self.tracing.stop)

    def compose(self, stages: list[Stage], last: Handler, name: str = "aigw.dispatch") -> Handler:
        """`pipeline.compose`, with a span per stage when tracing is on."""
        if self.tracing is None:
            return compose(stages, last)
        return compose(self.tracing.wrap_stages(stages), self.tracing.wrap_handler(last, name))
