"""Stage 5: budgets and quotas. A spending limit (USD) and a token quota per day and per
month, for an API key (its `budget`) and for an organisation (`billing.budgets.<org>`).

Before dispatch the request reserves its worst case (prompt estimate + max_tokens, priced)
against every limit that applies; when it ends the reservation is replaced by the real cost
and tokens. The check and the reservation are one database transaction over the shared
ledger (`budget_ledger` + `budget_holds`, rows locked in a fixed order), so concurrent
requests cannot overshoot together, across every worker and instance on the database: with
room for 10, at most 10 get in. A hold expires by itself (request_timeout + 60 s), so a crash
never leaks budget.

While the database is unreachable, or with `billing.shared_budgets: false`, the stage counts
in this process instead (a ledger seeded from the usage table), exact within the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aigw.billing.cost import Pricer
from aigw.component import StageComponent
from aigw.config import Config
from aigw.ids import hex_id
from aigw.limits.estimate import completion_cap, estimate_prompt_tokens
from aigw.pipeline import Handler, RequestContext, Result
from aigw.store.base import LedgerLine, OverBudget, Store, StoreUnavailable
from aigw.types import GatewayError

log = logging.getLogger("aigw.billing")

_LIMITS = (  # (budget field, period, kind)
    ("usd_per_day", "day", "usd"),
    ("usd_per_month", "month", "usd"),
    ("tokens_per_day", "day", "tokens"),
    ("tokens_per_month", "month", "tokens"),
)
_WHO = {"key_id": "API key", "org_id": "organization"}


def period_start(period: str, now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    if period == "day":
        d = d.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        d = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return d.timestamp()


@dataclass(slots=True, eq=False)  # compared and hashed by identity
class Entry:
    """What one key or org has spent (settled) and holds (reserved) in one period."""

    ready: asyncio.Future[None]
    spent_usd: float = 0.0
    spent_tokens: int = 0
    reserved_usd: float = 0.0
    reserved_tokens: int = 0


@dataclass(slots=True)
class Hold:
    entries: list[Entry] = field(default_factory=list)
    usd: float = 0.0
    tokens: int = 0


class BudgetStage(StageComponent):
    def __init__(self, config: Config, store: Store, pricer: Pricer) -> None:
        self.store = store
        self.pricer = pricer
        self.default_max_tokens = config.billing.default_max_tokens
        self.org_budgets = {
            org: b.model_dump() for org, b in config.billing.budgets.items() if b.active()
        }
        self._ledger: dict[tuple[str, str, float], Entry] = {}
        self._shared_ok = True
        self.shared = config.billing.shared_budgets
        # A reservation left by a crashed process stops counting after this.
        self.hold_ttl = config.server.request_timeout + 60.0

    def _limits(self, ctx: RequestContext) -> list[tuple[str, str, str, str, float]]:
        """[(column, subject, period, kind, limit)] that apply to this caller."""
        p = ctx.principal
        key_budget = getattr(p, "budget", None)
        if key_budget is None and not self.org_budgets:
            return []  # the common case: no budget anywhere
        out = []
        for column, subject, budget in (
            ("key_id", p.key_id, key_budget),
            ("org_id", p.org_id, self.org_budgets.get(p.org_id)),
        ):
            if subject and budget:
                for fname, period, kind in _LIMITS:
                    limit = budget.get(fname)
                    if limit is not None:
                        out.append((column, subject, period, kind, float(limit)))
        return out

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        limits = self._limits(ctx)
        if not limits:
            return await call_next(ctx)  # the common case: nothing to count
        now = time.time()
        tokens = estimate_prompt_tokens(ctx.endpoint, ctx.body)
        cap = (
            0 if ctx.endpoint == "embeddings" else completion_cap(ctx.body, self.default_max_tokens)
        )
        price = self.pricer.price(None, ctx.model)
        usd = (tokens * price.input + cap * price.output) / 1e6 if price else 0.0
        tokens += cap
        if not self.shared:
            await self._reserve_local(ctx, limits, usd, tokens, now)
            return await call_next(ctx)
        try:
            await self._reserve_shared(ctx, limits, usd, tokens, now)
        except StoreUnavailable as err:
            if self._shared_ok:
                log.error(
                    "budget: the database is unavailable, counting in this process",
                    extra={"error": str(err)},
                )
            self._shared_ok = False
            await self._reserve_local(ctx, limits, usd, tokens, now)
        else:
            self._shared_ok = True
        return await call_next(ctx)

    async def _reserve_shared(
        self,
        ctx: RequestContext,
        limits: list[tuple[str, str, str, str, float]],
        usd: float,
        tokens: int,
        now: float,
    ) -> None:
        """Atomic across every worker and instance on the database."""
        lines: dict[str, LedgerLine] = {}
        for column, subject, period, kind, limit in limits:
            since = period_start(period, now)
            lkey = f"{column}:{subject}:{period}:{since:.0f}"
            ln = lines.setdefault(lkey, LedgerLine(lkey, column, subject, since))
            if kind == "usd":
                ln.usd_limit = limit
            else:
                ln.tokens_limit = limit
        hold_id = hex_id(12)
        try:
            await self.store.budget_reserve(
                hold_id, list(lines.values()), usd, tokens, now, now + self.hold_ttl
            )
        except OverBudget as e:
            ln = e.line
            over_limit = ln.usd_limit if e.kind == "usd" else ln.tokens_limit
            raise _over(
                ln.column,
                ln.lkey.split(":")[-2],  # the period
                e.kind,
                float(over_limit or 0),
                e.used,
                usd if e.kind == "usd" else tokens,
            ) from None
        lkeys = list(lines)

        async def settle(c: RequestContext) -> None:
            cost, used = self._real(c, usd, tokens)
            try:
                await self.store.budget_settle(hold_id, lkeys, cost, used)
            except StoreUnavailable as err:
                # The hold expires by itself; this request's spending is not counted.
                log.warning("budget: could not settle a reservation", extra={"error": str(err)})

        ctx.on_finish(settle)

    async def _reserve_local(
        self,
        ctx: RequestContext,
        limits: list[tuple[str, str, str, str, float]],
        usd: float,
        tokens: int,
        now: float,
    ) -> None:
        """While the database is away: this process's ledger (seeded when it was up)."""
        entries = [await self._entry(c, s, period_start(per, now)) for c, s, per, _, _ in limits]
        # Check every limit, then reserve on all: no await in between (atomic on the loop).
        for (column, _subject, period, kind, limit), e in zip(limits, entries, strict=True):
            used = (
                e.spent_usd + e.reserved_usd
                if kind == "usd"
                else e.spent_tokens + e.reserved_tokens
            )
            need = usd if kind == "usd" else tokens
            if used + need > limit + 1e-12:
                raise _over(column, period, kind, limit, used, need)
        hold = Hold(entries=list(dict.fromkeys(entries)), usd=usd, tokens=tokens)
        for e in hold.entries:
            e.reserved_usd += usd
            e.reserved_tokens += tokens
        ctx.on_finish(lambda c: self._settle(c, hold))

    def _real(self, ctx: RequestContext, usd: float, tokens: int) -> tuple[float, int]:
        """What the request really cost: its usage, or the worst case when the upstream
        served it but the usage never arrived (the client left mid-stream)."""
        cost, _ = self.pricer.cost_of(ctx)
        u = ctx.usage
        used = 0 if u is None or ctx.cache in ("hit", "semantic") else u.total_tokens
        if u is None and ctx.provider is not None and ctx.status in (200, 499):
            return usd, tokens
        return cost, used

    def _settle(self, ctx: RequestContext, hold: Hold) -> None:
        cost, used_tokens = self._real(ctx, hold.usd, hold.tokens)
        for e in hold.entries:
            e.reserved_usd -= hold.usd
            e.reserved_tokens -= hold.tokens
            e.spent_usd += cost
            e.spent_tokens += used_tokens

    async def _entry(self, column: str, subject: str, since: float) -> Entry:
        k = (column, subject, since)
        e = self._ledger.get(k)
        if e is None:
            e = Entry(ready=asyncio.get_running_loop().create_future())
            self._ledger[k] = e
            self._prune(since)
            try:
                e.spent_usd, e.spent_tokens = await self.store.spent(column, subject, since)
            except StoreUnavailable as err:
                # Count from zero rather than refuse everyone; logged loudly.
                log.error(
                    "budget: cannot read past spending, counting from now",
                    extra={"subject": column, "error": str(err)},
                )
            e.ready.set_result(None)
        elif not e.ready.done():
            await asyncio.shield(e.ready)
        return e

    def _prune(self, current: float) -> None:
        if len(self._ledger) > 10_000:
            for k in [k for k, e in self._ledger.items() if k[2] < current - 32 * 86400]:
                del self._ledger[k]


def _over(
    column: str, period: str, kind: str, limit: float, used: float, need: float
) -> GatewayError:
    who = _WHO[column]
    if kind == "usd":
        what = f"the {who}'s budget of ${limit:.2f} per {period} (spent or reserved ${used:.4f}, this request may cost up to ${need:.4f})"
    else:
        what = f"the {who}'s quota of {int(limit)} tokens per {period} (used or reserved {int(used)}, this request may use up to {int(need)})"
    return GatewayError(
        429,
        f"You exceeded your current quota: {what}. Lower max_tokens, wait for the next "
        f"{period}, or ask an admin to raise the limit.",
        "insufficient_quota",
        "insufficient_quota",
    )
