"""`billing:` config: price overrides and budgets per organisation."""

from __future__ import annotations

from pydantic import Field

from aigw.sections import Section


class PriceConfig(Section):
    """USD per 1M tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)  # default: the input price
    cache_write: float | None = Field(default=None, ge=0)  # prompt-cache writes (Anthropic)


class BudgetLimits(Section):
    usd_per_day: float | None = Field(default=None, ge=0)
    usd_per_month: float | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)
    tokens_per_month: int | None = Field(default=None, ge=0)

    def active(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


class BillingConfig(Section):
    prices: dict[str, PriceConfig] = Field(default_factory=dict)  # model name -> price
    budgets: dict[str, BudgetLimits] = Field(default_factory=dict)  # org id -> limits
    # Worst case reserved for a request that gives no max_tokens.
    default_max_tokens: int = Field(4096, ge=1)
    # true: reservations in the database, exact across every worker and instance (two short
    # transactions per budgeted request). false: each process counts on its own (no
    # database round trip; N processes may together overshoot a budget).
    shared_budgets: bool = True
