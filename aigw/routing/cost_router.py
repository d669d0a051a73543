"""Stage 4, the cost router: `model: "auto"` (or any configured router name) -> a real model.

The last user message is scored (0 = easy, 1 = hard, see complexity.py and learned.py); at or
above the router's threshold the request goes to the strong model, below it to the cheap one.
Only `ctx.model` changes: the client's body stays as sent (the dispatcher puts the upstream
model name in the upstream request), and the stages after this one (cache, dispatcher) see
the chosen model. The decision leaves in `x-aigw-route` ("<model>; router=<name>") and
`x-aigw-route-score`, and in the access log.

Scoring a prompt of a few hundred characters takes ~0.1-0.3 ms (one model2vec embedding, two
dot products) and runs inline; a longer one (up to ~1.5 ms at the 8,000-character cap) is
scored in a worker thread so the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from aigw.component import StageComponent
from aigw.config import Config
from aigw.pipeline import Handler, RequestContext, Result
from aigw.routing.router_settings import RouterConfig
from aigw.types import GatewayError

# The part of a very long last message that is scored: the head carries the task.
MAX_SCORED_CHARS = 8000
# Longer texts than this are scored off the event loop (the thread hop costs ~0.1 ms).
INLINE_CHARS = 1500
# Chat, and Anthropic's Messages with its count_tokens (their `ctx.body` is the chat form).
ROUTED_ENDPOINTS = frozenset({"chat", "messages", "count_tokens", "responses"})


class Scorer(Protocol):
    name: str
    default_threshold: float

    def score(self, text: str) -> float: ...


@dataclass(frozen=True, slots=True)
class CostRouter:
    name: str
    strong: str
    cheap: str
    threshold: float
    scorer: Scorer

    def route(self, text: str) -> tuple[str, float]:
        score = self.scorer.score(text)
        return (self.strong if score >= self.threshold else self.cheap), score


def last_user_text(messages: Any) -> str:
    """The text of the last user message (string content or text parts)."""
    if not isinstance(messages, list):
        return ""
    for m in reversed(messages):
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            return c[:MAX_SCORED_CHARS]
        if isinstance(c, list):
            parts = [
                p["text"]
                for p in c
                if isinstance(p, dict)
                and p.get("type") == "text"
                and isinstance(p.get("text"), str)
            ]
            return " ".join(parts)[:MAX_SCORED_CHARS]
        return ""
    return ""


class CostRouterStage(StageComponent):
    def __init__(self, routers: dict[str, CostRouter]) -> None:
        # Request model name -> router: the routers' own names and models with `router:`.
        self.routers = routers

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        router = self.routers.get(ctx.model)
        if router is None or ctx.endpoint not in ROUTED_ENDPOINTS:
            return await call_next(ctx)
        text = last_user_text(ctx.body.get("messages"))
        if len(text) <= INLINE_CHARS:
            model, score = router.route(text)
        else:
            model, score = await asyncio.to_thread(router.route, text)
        model = _allowed(ctx, router, model)
        ctx.model = model
        ctx.response_headers["x-aigw-route"] = f"{model}; router={router.name}"
        ctx.response_headers["x-aigw-route-score"] = f"{score:.4f}"
        ctx.extra_log["route"] = router.name
        ctx.extra_log["route_score"] = round(score, 4)
        return await call_next(ctx)


def _allowed(ctx: RequestContext, router: CostRouter, model: str) -> str:
    """A credential limited to some models gets only those: the other model of the pair when
    the chosen one is not allowed, a 403 when neither is."""
    allowed = ctx.principal.allowed_models
    if allowed is None or model in allowed:
        return model
    other = router.cheap if model == router.strong else router.strong
    if other in allowed:
        return other
    raise GatewayError(
        403,
        f"This credential may not use the models of router `{router.name}`.",
        "invalid_request_error",
        "model_not_allowed",
    )


def _scorer(rc: RouterConfig, cache: dict[tuple[str, str | None], Scorer]) -> Scorer:
    key = (rc.scorer, rc.model_file if rc.scorer == "learned" else None)
    s = cache.get(key)
    if s is None:
        if rc.scorer == "heuristic":
            from aigw.routing.complexity import HeuristicScorer

            s = HeuristicScorer()
        else:
            from aigw.routing.learned import LearnedScorer

            s = LearnedScorer(rc.model_file)
        cache[key] = s
    return s


def build(config: Config) -> CostRouterStage | None:
    """The stage, or None when no router is configured (nothing is added to the way)."""
    if not config.routers:
        return None
    scorers: dict[tuple[str, str | None], Scorer] = {}
    routers: dict[str, CostRouter] = {}
    for name, rc in config.routers.items():
        s = _scorer(rc, scorers)
        threshold = s.default_threshold if rc.threshold is None else rc.threshold
        routers[name] = CostRouter(name, rc.strong, rc.cheap, threshold, s)
    for mname, m in config.models.items():
        if m.router is not None:
            routers[mname] = routers[m.router]
    return CostRouterStage(routers)
