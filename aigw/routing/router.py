"""Which deployments may answer a model name, in the order to try them."""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aigw.config import Config, DeploymentConfig, ModelConfig, ProviderConfig, no_provider_hint
from aigw.providers import registry
from aigw.providers.base import ProviderAdapter, ProviderSpec
from aigw.types import model_not_found, no_provider_configured

if TYPE_CHECKING:
    from aigw.routing.balancer import Balancer


@dataclass(slots=True, frozen=True)
class Target:
    model_name: str  # the client-facing name this target serves
    deployment: DeploymentConfig
    provider: ProviderConfig
    spec: ProviderSpec

    @property
    def adapter(self) -> ProviderAdapter:
        return self.spec.adapter

    def can(self, capability: str) -> bool:
        return capability in self.spec.capabilities

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def upstream_model(self) -> str:
        return self.deployment.model or self.model_name


class Router:
    def __init__(
        self, config: Config, rng: random.Random | None = None, balancer: Balancer | None = None
    ) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self.balancer = balancer  # set by the dispatcher: orders by live state, skips open breakers
        self._targets: dict[str, list[Target]] = {
            name: [self._target(name, d) for d in m.deployments]
            for name, m in config.models.items()
        }
        self._direct: OrderedDict[str, list[Target]] = OrderedDict()  # `<provider>/<model>`

    def _target(self, model_name: str, d: DeploymentConfig) -> Target:
        p = self.config.providers[d.provider]
        return Target(model_name, d, p, registry.spec(p.type))

    def model_names(self) -> list[str]:
        """The configured (listed) model names; `<provider>/<model>` names are not listed."""
        return list(self.config.models)

    def model_config(self, name: str) -> ModelConfig | None:
        return self.config.models.get(name)

    def targets(self, model: str) -> list[Target]:
        """The deployments of one model name; `<provider>/<upstream model>` reaches any model
        of a configured provider without listing it."""
        ts = self._targets.get(model)
        if ts is not None:
            return ts
        direct = self._direct
        ts = direct.get(model)
        if ts is not None:
            direct.move_to_end(model)
            return ts
        prov, sep, upstream = model.partition("/")
        if sep and upstream and prov in self.config.providers:
            d = DeploymentConfig(provider=prov, model=upstream, name=model)
            ts = direct[model] = [self._target(model, d)]
            # These names come from clients: keep the most recently used few.
            while len(direct) > self.config.routing.max_direct_models:
                direct.popitem(last=False)
            return ts
        if not self.config.providers:
            raise no_provider_configured(model, no_provider_hint())
        raise model_not_found(model)

    def forget(self, model: str) -> None:
        """Drop a `<provider>/<model>` route (the upstream rejected that model)."""
        self._direct.pop(model, None)

    def plan(self, model: str) -> list[list[Target]]:
        """Groups to try in order: the model's own deployments (balanced), then each
        fallback model's, transitively, each model once."""
        groups: list[list[Target]] = []
        seen: set[str] = set()
        queue = [model]
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            groups.append(self.order(name, self.targets(name)))
            mc = self.config.models.get(name)
            if mc:
                queue.extend(mc.fallbacks)
        return groups

    def order(self, model: str, targets: list[Target]) -> list[Target]:
        """The model's balancer order (deployments behind an open breaker left out); without a
        balancer, weighted random order (without replacement)."""
        if self.balancer is not None:
            mc = self.config.models.get(model)
            return self.balancer.order(mc.balancer if mc else "weighted", targets)
        if len(targets) <= 1:
            return targets
        pool = list(targets)
        out: list[Target] = []
        while pool:
            pick = self._rng.choices(pool, weights=[t.deployment.weight for t in pool])[0]
            pool.remove(pick)
            out.append(pick)
        return out
