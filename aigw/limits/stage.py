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
from typing import Any

from aigw.component import Gauge, StageComponent
from aigw.config import Config, parse_duration
from aigw.limits.fallback import ClusterLimiter
from aigw.limits.headers import format_reset, put
from aigw.limits.limiter import LocalLimiter
from aigw.limits.memory import MemoryBackend
from aigw.limits.redis_backend import RedisBackend
from aigw.limits.rules import GCRA, REQUESTS, TOKENS, WINDOW, Check, Outcome, Rule
from aigw.limits.settings import LIMIT_FIELDS, SCOPES, RateLimitSettings, ScopeLimits
from aigw.limits.tokens import has_completion_cap, reservation
from aigw.pipeline import Handler, RequestContext, Result
from aigw.types import GatewayError

log = logging.getLogger("aigw.limits")

_SCOPE_TEXT = {"key": "api key", "user": "user", "org": "organization", "global": "gateway"}
_CACHE_HITS = ("hit", "semantic")


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

    def checks(self, ctx: RequestContext) -> list[Check]:
        p = ctx.principal
        ov = p.limits
        if not ov and not self.has_defaults:
            return []
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
        out: list[Check] = []
        tokens = -1
        stated = True
        for scope, ident, override in scopes:
            if ident is None:
                continue
            for rule in self._rules(scope, override):
                if rule.resource == TOKENS:
                    if tokens < 0:
                        tokens = reservation(
                            ctx.endpoint, ctx.body, self.settings.default_max_tokens
                        )
                        stated = has_completion_cap(ctx.endpoint, ctx.body)
                    # A cap the client stated is held to ("request too large" if it cannot
                    # ever fit); our default guess is not: it is clipped to the limit, and
                    # the settlement charges what was really used.
                    cost = tokens if stated else min(tokens, rule.limit)
                    out.append(Check(rule, scope, ident, cost))
                else:
                    out.append(Check(rule, scope, ident, 1))
        return out

    # --- the stage ------------------------------------------------------------------------

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        checks = self.checks(ctx)
        if not checks:
            return await call_next(ctx)
        org = ctx.principal.org_id
        try:
            outcome = await self.limiter.admit(checks, org)
        except GatewayError:
            ctx.error_kind = "rate_limiter_unavailable"
            raise
        headers = self._headers(checks, outcome)
        if not outcome.allowed:
            ctx.error_kind = "rate_limited"
            raise self._refusal(checks, outcome, headers)
        ctx.response_headers.update(headers)

        tok = [c for c in checks if c.rule.resource == TOKENS]
        if not tok:
            return await call_next(ctx)
        limiter = self.limiter

        async def settle(c: RequestContext, refund_unknown: bool = False) -> None:
            if c.cache in _CACHE_HITS:
                used = 0  # answered without the upstream
            elif c.usage is not None:
                used = c.usage.total_tokens
            elif refund_unknown or (c.status >= 400 and c.status != 499):
                used = 0  # failed before the upstream produced anything we were told of
            else:
                return  # unknown (client left mid-way): keep the reservation, never under-count
            deltas = [used - t.cost for t in tok]
            if any(deltas):
                tw = [outcome.windows[checks.index(t)] for t in tok]
                sub = Outcome(True, 0.0, -1, [], [], tw, outcome.backend)
                await limiter.settle(sub, tok, deltas, org)

        try:
            result = await call_next(ctx)
        except GatewayError:
            await settle(ctx, refund_unknown=True)
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

    def _headers(self, checks: list[Check], outcome: Outcome) -> dict[str, str]:
        h: dict[str, str] = {}
        share = getattr(outcome.backend, "share", None)
        for resource in (REQUESTS, TOKENS):
            best = -1
            for i, c in enumerate(checks):
                if c.rule.resource == resource and (
                    best < 0 or outcome.remaining[i] < outcome.remaining[best]
                ):
                    best = i
            if best >= 0:
                limit = checks[best].rule.limit
                put(
                    h,
                    resource,
                    share(limit) if share else limit,
                    outcome.remaining[best],
                    outcome.reset[best],
                )
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
