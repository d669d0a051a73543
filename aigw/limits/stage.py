"""Stage 5: rate limits per API key, user, organisation and the whole gateway.

Each request is checked against every limit that applies, in one all-or-nothing decision:
requests (cost 1) against the request rates, and a token reservation (prompt estimate +
max_tokens, or `default_max_tokens`) against the token rates and budgets. When the response
has ended (streams included) the reservation is settled to the real usage.

Limits come from the config (`rate_limiting:`, per scope) and are overridden per key, user or
organisation by `ctx.principal.limits`, which the auth stage fills from the store:

    {"requests_per_minute": 60, ...}            flat: overrides of this API key's limits
    {"key": {...}, "user": {...}, "org": {...}}  per scope
    each holds requests_per_minute, requests_per_hour, tokens_per_minute, token_budget
    (integers; null switches that limit off) and budget_period (e.g. "1d").

Scope ids: the key id ("anonymous" without a key), "<org>/<user id>", the org id, "*".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from aigw.component import Gauge, StageComponent
from aigw.config import Config, parse_duration
from aigw.limits.fallback import ClusterLimiter
from aigw.limits.headers import NAMES, format_reset
from aigw.limits.limiter import LocalLimiter
from aigw.limits.memory import MemoryBackend
from aigw.limits.redis_backend import RedisBackend
from aigw.limits.rules import GCRA, REQUESTS, TOKENS, WINDOW, Check, Outcome, Rule
from aigw.limits.settings import LIMIT_FIELDS, SCOPES, RateLimitSettings, ScopeLimits
from aigw.limits.tokens import reserve
from aigw.pipeline import Handler, RequestContext, Result
from aigw.types import GatewayError, Principal

log = logging.getLogger("aigw.limits")

_SCOPE_TEXT = {"key": "api key", "user": "user", "org": "organization", "global": "gateway"}
_CACHE_HITS = ("hit", "semantic")


@dataclass(slots=True, frozen=True)
class _Plan:
    """The checks of one caller (token checks at cost 0), which of them are token checks, and
    per resource with checks: its header names and its checks."""

    checks: tuple[Check, ...]
    tokens: tuple[int, ...]
    headers: tuple[tuple[tuple[str, str, str], tuple[int, ...]], ...]
    # Each limit's header text when the stage's in-process backend decides (its share).
    local_limits: tuple[str, ...]


def rules_of(limits: dict[str, Any]) -> tuple[Rule, ...]:
    """A scope's limits (a ScopeLimits dump, or an override dict) -> its rules."""
    out: list[Rule] = []
    if limits.get("requests_per_minute"):
        out.append(Rule("rpm", REQUESTS, GCRA, int(limits["requests_per_minute"]), 60.0))
    if limits.get("requests_per_hour"):
        out.append(Rule("rph", REQUESTS, GCRA, int(limits["requests_per_hour"]), 3600.0))
    if limits.get("tokens_per_minute"):
        out.append(Rule("tpm", TOKENS, GCRA, int(limits["tokens_per_minute"]), 60.0))
    if limits.get("token_budget"):
        period = parse_duration(limits.get("budget_period") or 86400.0)
        out.append(Rule("budget", TOKENS, WINDOW, int(limits["token_budget"]), period))
    return tuple(out)


_NOTHING = _Plan((), (), (), ())  # no limit applies


class RateLimitStage(StageComponent):
    def __init__(self, settings: RateLimitSettings, limiter: LocalLimiter | ClusterLimiter):
        self.settings = settings
        self.limiter = limiter
        self.defaults: dict[str, dict[str, Any]] = {
            s: settings.scope(s).model_dump() for s in SCOPES
        }
        self.default_rules = {s: rules_of(self.defaults[s]) for s in SCOPES}
        self.has_defaults = any(self.default_rules.values())
        self._override_cache: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[Rule, ...]] = {}
        self._plans: dict[tuple[str | None, str | None, str, str | None], _Plan] = {}
        # The in-process backend decides without awaiting: the stage calls it directly.
        self._local = limiter.backend if isinstance(limiter, LocalLimiter) else None

    # --- which limits apply -----------------------------------------------------------------

    def _rules(self, scope: str, override: Any) -> tuple[Rule, ...]:
        if not isinstance(override, dict) or not override:
            return self.default_rules[scope]
        ck = (
            scope,
            tuple(
                sorted(
                    (k, v if isinstance(v, int | float | str | None) else repr(v))
                    for k, v in override.items()
                    if k in LIMIT_FIELDS or k == "budget_period"
                )
            ),
        )
        rules = self._override_cache.get(ck)
        if rules is None:
            merged = dict(self.defaults[scope])
            for k, v in override.items():
                if k in LIMIT_FIELDS or k == "budget_period":
                    merged[k] = v
            try:
                ScopeLimits.model_validate(merged)  # once per distinct override, not per request
                rules = rules_of(merged)
            except Exception:
                log.warning("ignoring invalid rate-limit override", extra={"scope": scope})
                rules = self.default_rules[scope]
            if len(self._override_cache) > 4096:
                self._override_cache.clear()
            self._override_cache[ck] = rules
        return rules

    def _plan(self, p: Principal) -> _Plan:
        """The checks that apply to this caller, token costs still to fill in: made once per
        caller identity and override content (the config's rules do not change at run time)."""
        ov = p.limits
        # repr: the override's whole content is in the key, never just its identity.
        ck = (p.key_id, p.user_id, p.org_id, repr(ov) if ov else None)
        plan = self._plans.get(ck)
        if plan is None:
            plan = self._make_plan(p)
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[ck] = plan
        return plan

    def _make_plan(self, p: Principal) -> _Plan:
        ov = p.limits
        if not ov and not self.has_defaults:
            return _NOTHING
        key_ov = ov.get("key") if ov else None
        if ov and key_ov is None and any(k in ov for k in LIMIT_FIELDS):
            key_ov = ov  # the flat form
        scopes = (
            ("key", p.key_id or "anonymous", key_ov),
            (
                "user",
                f"{p.org_id}/{p.user_id}" if p.user_id else None,
                ov.get("user") if ov else None,
            ),
            ("org", p.org_id, ov.get("org") if ov else None),
            ("global", "*", None),
        )
        checks = [
            Check(rule, scope, ident, 1 if rule.resource == REQUESTS else 0)
            for scope, ident, override in scopes
            if ident is not None
            for rule in self._rules(scope, override)
        ]
        if not checks:
            return _NOTHING
        where = {
            r: tuple(i for i, c in enumerate(checks) if c.rule.resource == r)
            for r in (REQUESTS, TOKENS)
        }
        headers = tuple((NAMES[r], idx) for r, idx in where.items() if idx)
        local = self._local
        shown = tuple(str(local.share(c.rule.limit)) if local is not None else "" for c in checks)
        return _Plan(tuple(checks), where[TOKENS], headers, shown)

    def checks(self, ctx: RequestContext) -> list[Check]:
        return self._costed(self._plan(ctx.principal), ctx)

    def _costed(self, plan: _Plan, ctx: RequestContext) -> list[Check]:
        checks = list(plan.checks)
        if plan.tokens:
            tokens, stated = reserve(ctx.endpoint, ctx.body, self.settings.default_max_tokens)
            for i in plan.tokens:
                c = checks[i]
                # A cap the client stated is held to ("request too large" if it cannot ever
                # fit); our default guess is not: it is clipped to the limit, and the
                # settlement charges what was really used.
                checks[i] = c.costing(tokens if stated else min(tokens, c.rule.limit))
        return checks

    # --- the stage ------------------------------------------------------------------------

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        plan = self._plan(ctx.principal)
        if not plan.checks:
            return await call_next(ctx)
        checks = self._costed(plan, ctx)
        org = ctx.principal.org_id
        local = self._local
        if local is not None:
            outcome = local.admit_now(checks)
        else:
            try:
                outcome = await self.limiter.admit(checks, org)
            except GatewayError:
                ctx.error_kind = "rate_limiter_unavailable"
                raise
        if not outcome.allowed:
            ctx.error_kind = "rate_limited"
            raise self._refusal(checks, outcome, self._headers(plan, checks, outcome, {}))
        self._headers(plan, checks, outcome, ctx.response_headers)

        tok = plan.tokens
        if not tok:
            return await call_next(ctx)
        limiter = self.limiter

        # A plain function: with the in-process backend a settlement is done without
        # awaiting anything; with Redis it returns the coroutine to await.
        def settle(c: RequestContext, refund_unknown: bool = False) -> Awaitable[None] | None:
            if c.cache in _CACHE_HITS:
                used = 0  # answered without the upstream
            elif c.usage is not None:
                used = c.usage.total_tokens
            elif refund_unknown or (c.status >= 400 and c.status != 499):
                used = 0  # failed before the upstream produced anything we were told of
            else:  # unknown (client left mid-way): keep the reservation, never under-count
                return None
            windows = outcome.windows
            if local is not None:
                for i in tok:
                    d = used - checks[i].cost
                    if d:
                        local.adjust(checks[i], d, windows[i])
                return None
            deltas = [used - checks[i].cost for i in tok]
            if not any(deltas):
                return None
            tc = [checks[i] for i in tok]
            tw = [windows[i] for i in tok]
            sub = Outcome(True, 0.0, -1, [], [], tw, outcome.backend)
            return limiter.settle(sub, tc, deltas, org)

        try:
            result = await call_next(ctx)
        except GatewayError:
            pending = settle(ctx, refund_unknown=True)
            if pending is not None:
                await pending
            raise
        ctx.on_finish(settle)
        return result

    async def start(self) -> None:
        await self.limiter.start()

    async def stop(self) -> None:
        await self.limiter.close()

    def gauges(self) -> list[Gauge]:
        """Whether this instance limits locally because Redis is away, and what the outages
        cost (nothing to report without Redis)."""
        lim = self.limiter
        if not isinstance(lim, ClusterLimiter):
            return []
        return [
            Gauge(
                "ratelimit_fallback_active",
                lambda: 0.0 if lim.redis_up else 1.0,
                "1 while Redis is unreachable and rate limits are enforced locally (or refused).",
                mode="max",
            ),
            Gauge(
                "ratelimit_redis_errors",
                lambda: float(lim.redis_errors),
                "Rate-limit calls to Redis that failed, since start (live workers, summed).",
            ),
            Gauge(
                "ratelimit_fallback_decisions",
                lambda: {lim.policy: float(lim.fallback_decisions)},
                "Rate-limit decisions taken without Redis, since start, by on_redis_error policy.",
                ("policy",),
            ),
        ]

    def _headers(
        self, plan: _Plan, checks: list[Check], outcome: Outcome, h: dict[str, str]
    ) -> dict[str, str]:
        """OpenAI's headers into `h`, per resource from its tightest limit (the first of equals)."""
        rem = outcome.remaining
        local = outcome.backend is self._local
        share = getattr(outcome.backend, "share", None)
        for (limit_name, remaining_name, reset_name), idx in plan.headers:
            best = min(idx, key=rem.__getitem__) if len(idx) > 1 else idx[0]
            if local:
                h[limit_name] = plan.local_limits[best]
            else:
                limit = checks[best].rule.limit
                h[limit_name] = str(share(limit) if share else limit)
            h[remaining_name] = str(rem[best])
            h[reset_name] = format_reset(outcome.reset[best])
        return h

    def _refusal(
        self, checks: list[Check], outcome: Outcome, headers: dict[str, str]
    ) -> GatewayError:
        i = outcome.denied
        c = checks[i]
        r = c.rule
        share = getattr(outcome.backend, "share", None)
        limit = share(r.limit) if share else r.limit
        who = _SCOPE_TEXT[c.scope] + ("" if c.scope == "global" else f" {c.ident}")
        if math.isinf(outcome.retry_after):
            return GatewayError(
                429,
                f"Request too large for {who} on {r.label}: Limit {limit}, Requested {c.cost}. "
                "The input or output tokens must be reduced in order to run successfully.",
                r.resource,
                "rate_limit_exceeded",
                headers=headers,
            )
        wait = max(outcome.retry_after, 0.001)
        used = max(0, limit - outcome.remaining[i])
        headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return GatewayError(
            429,
            f"Rate limit reached for {who} on {r.label}: Limit {limit}, Used {used}, "
            f"Requested {c.cost}. Please try again in {format_reset(wait)}.",
            r.resource,
            "rate_limit_exceeded",
            retry_after=wait,
            headers=headers,
        )


def build(config: Config) -> RateLimitStage | None:
    """The stage for this config, or None when rate limiting is switched off."""
    s: RateLimitSettings = config.rate_limiting
    if not s.enabled:
        return None
    workers = config.server.workers
    if s.redis_url:
        tag_by_org = not s.global_.any()
        redis = RedisBackend(
            s.redis_url, s.redis_prefix, s.redis_timeout, tag_by_org, cluster=s.redis_cluster
        )
        local = MemoryBackend(divisor=s.cluster_size * workers)
        limiter: LocalLimiter | ClusterLimiter = ClusterLimiter(
            redis, local, s.on_redis_error, s.redis_timeout, s.redis_retry_interval
        )
    else:
        if workers > 1:
            log.info(
                "rate limits without Redis: each worker enforces limit / workers",
                extra={"workers": workers},
            )
        limiter = LocalLimiter(MemoryBackend(divisor=workers))
    return RateLimitStage(s, limiter)
