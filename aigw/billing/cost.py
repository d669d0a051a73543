"""Cost of a request from its usage and the model's price. Cache hits cost nothing and
record what they saved (the price of the answer they replayed)."""

from __future__ import annotations

import logging

from aigw.billing.prices import Price, shipped_price
from aigw.config import Config
from aigw.pipeline import RequestContext
from aigw.types import Usage

log = logging.getLogger("aigw.billing")

CACHE_HITS = ("hit", "semantic")
_M = 1_000_000.0


def usage_cost(u: Usage, p: Price) -> float:
    """USD. `prompt_tokens` includes cached and cache-written tokens (OpenAI's convention)."""
    fresh = max(0, u.prompt_tokens - u.cached_tokens - u.cache_creation_tokens)
    return (
        fresh * p.input
        + u.cached_tokens * p.cached_input
        + u.cache_creation_tokens * p.cache_write
        + u.completion_tokens * p.output
    ) / _M


_MAX_MEMO = 4096


class Pricer:
    """Finds the price of a deployment or model once and remembers it."""

    def __init__(self, config: Config) -> None:
        self._config = {n: Price.of(**p.model_dump()) for n, p in config.billing.prices.items()}
        self._deployments: dict[str, Price] = {}
        self._first_deployment: dict[str, str] = {}
        for mname, m in config.models.items():
            for d in m.deployments:
                if d.price:
                    self._deployments[d.name] = Price.of(**d.price)
            if m.deployments:
                self._first_deployment[mname] = m.deployments[0].name
        self._memo: dict[tuple[str | None, str], Price | None] = {}
        self._warned: set[str] = set()

    def price(self, deployment: str | None, model: str) -> Price | None:
        key = (deployment, model)
        if key in self._memo:
            return self._memo[key]
        p = self._find(deployment or self._first_deployment.get(model), model)
        if len(self._memo) >= _MAX_MEMO:  # model names come from clients: stay bounded
            self._memo.clear()
        self._memo[key] = p
        if p is None and model not in self._warned and len(self._warned) < _MAX_MEMO:
            self._warned.add(model)
            log.warning(
                "no price for model: its requests are recorded at cost 0 "
                "(add it under billing.prices)",
                extra={"model": model, "deployment": deployment},
            )
        return p

    def _find(self, deployment: str | None, model: str) -> Price | None:
        if deployment and deployment in self._deployments:
            return self._deployments[deployment]
        upstream = deployment.split("/", 1)[1] if deployment and "/" in deployment else None
        for name in (model, upstream):
            if name and name in self._config:
                return self._config[name]
        for name in (upstream, model):
            if name:
                p = shipped_price(name)
                if p is not None:
                    return p
        return None

    def cost_of(self, ctx: RequestContext) -> tuple[float, float]:
        """(cost, saved) in USD for a finished request; sets `ctx.cost`."""
        if ctx.cost is not None and ctx.cache not in CACHE_HITS:
            return ctx.cost, 0.0
        u = ctx.usage
        if u is None:
            ctx.cost = 0.0
            return 0.0, 0.0
        p = self.price(ctx.deployment, ctx.model)
        full = usage_cost(u, p) if p is not None else 0.0
        if ctx.cache in CACHE_HITS:
            ctx.cost = 0.0
            return 0.0, full
        ctx.cost = full
        return full, 0.0
