"""GCRA (generic cell rate algorithm): a rate limit stored as one number per key, the
theoretical arrival time (TAT). A limit of L per period P admits a burst of L and then
refills continuously at L/P. A cost of n units counts as n arrivals, so the same code limits
requests (cost 1) and tokens (cost = tokens). A TAT beyond now+P is a debt (real usage above
the reservation): later requests wait until it is paid. `lua/admit.lua` is the same maths."""

from __future__ import annotations

import math

# Float slack when comparing times (seconds): far below any emission interval we support.
EPS = 1e-7


def gcra(
    tat: float, now: float, cost: int, limit: int, period: float
) -> tuple[bool, float, int, float, float]:
    """-> (allowed, new_tat, remaining, reset, wait). `reset`: seconds until the bucket is
    full again; `wait`: seconds until this cost would fit (inf when cost > limit)."""
    t = period / limit
    base = tat if tat > now else now
    new = base + cost * t
    ahead = new - now
    if ahead > period + EPS:
        wait = math.inf if cost > limit else ahead - period
        ahead, new, allowed = base - now, tat, False
    else:
        wait, allowed = 0.0, True
    # What remains: the whole units that still fit in the period (never below 0).
    rem = math.floor((period - ahead) / t + EPS)
    return allowed, new, rem if rem > 0 else 0, ahead, wait


def gcra_adjust(tat: float, now: float, delta: int, limit: int, period: float) -> float:
    """Settle: add (or give back) `delta` units. A refund never makes the bucket fuller
    than full; an extra may push the TAT past now+period (a debt)."""
    t = period / limit
    if delta >= 0:
        return (tat if tat > now else now) + delta * t
    return max(now, tat + delta * t)
