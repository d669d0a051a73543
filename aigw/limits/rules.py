"""What a limiter decides on: rules (a limit and its period), checks (a rule applied to one
scope with a cost), and the outcome of one all-or-nothing decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

GCRA = "g"  # a rate refilled continuously (requests/min, requests/hour, tokens/min)
WINDOW = "w"  # a budget per fixed, epoch-aligned period (token budget)

REQUESTS = "requests"
TOKENS = "tokens"


@dataclass(slots=True, frozen=True)
class Rule:
    name: str  # rpm | rph | tpm | budget: the last part of the storage key
    resource: str  # REQUESTS | TOKENS
    kind: str  # GCRA | WINDOW
    limit: int
    period: float  # seconds

    @property
    def label(self) -> str:
        return _LABELS[self.name]


_LABELS = {
    "rpm": "requests per min (RPM)",
    "rph": "requests per hour (RPH)",
    "tpm": "tokens per min (TPM)",
    "budget": "token budget",
}


# Not frozen (treat it as if it were): one is built per token limit per request, and a frozen
# dataclass costs three times as much to build.
@dataclass(slots=True)
class Check:
    rule: Rule
    scope: str  # key | user | org | global
    ident: str  # the scope's id: key id, user id, org id, "*"
    cost: int
    # "<scope>:<ident>:<rule>", the state's name in a backend: made once, not at every use.
    key: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = f"{self.scope}:{self.ident}:{self.rule.name}"

    def costing(self, cost: int) -> Check:
        """This check with another cost."""
        return Check(self.rule, self.scope, self.ident, cost, self.key)


@dataclass(slots=True)
class Outcome:
    """One decision. Per check (same order): what remains after it, the seconds until the
    limit is whole again, and the budget window it was counted in (for settling)."""

    allowed: bool
    retry_after: float  # seconds until the denied request would fit; inf: it never can
    denied: int  # index of the first check that refused, -1 when allowed
    remaining: list[int]
    reset: list[float]
    windows: list[int]
    backend: Backend | None = None  # who decided: settle there


class Backend(Protocol):
    name: str

    async def admit(self, checks: Sequence[Check], org: str, dry: bool = False) -> Outcome:
        """Check every limit and, when all allow it (and not dry), count the costs. `org`
        groups the state (a Redis Cluster hash tag)."""
        ...

    async def settle(
        self, checks: Sequence[Check], deltas: Sequence[int], windows: Sequence[int], org: str
    ) -> None:
        """Adjust counted costs by `deltas` (real minus reserved; may be negative)."""
        ...
