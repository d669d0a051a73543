"""Load balancing across one model's deployments, and the live state it decides on.

Per model (`models.<name>.balancer`):
- `weighted`: weighted random order (without replacement) by `weight`;
- `least_busy`: fewest requests in flight (queued ones included) relative to the weight;
- `lowest_latency`: lowest EWMA of recent latency (time to first token for streams); a
  deployment with no measurement yet goes first so it gets one.
Deployments whose breaker is open are left out; ties are broken at random so equal
deployments share the load.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from aigw.routing.breaker import Breaker

if TYPE_CHECKING:
    from aigw.queue.slots import SlotPool
    from aigw.routing.router import Target

EWMA_ALPHA = 0.2  # weight of the newest sample: about the last ten calls matter


class DeploymentState:
    """What the gateway knows about one deployment right now (shared by every model name
    that routes to it)."""

    __slots__ = ("breaker", "calls", "ewma_ms", "failures", "in_flight", "limit", "name", "slots")

    def __init__(self, name: str, breaker: Breaker, limit: int | None = None) -> None:
        self.name = name
        self.in_flight = 0
        self.ewma_ms: float | None = None
        self.breaker = breaker
        self.limit = limit  # max_concurrency; None: unlimited (no queue at all)
        self.slots: SlotPool | None = None
        self.calls = 0
        self.failures = 0

    def observe(self, ms: float) -> None:
        e = self.ewma_ms
        self.ewma_ms = ms if e is None else e + EWMA_ALPHA * (ms - e)

    @property
    def queued(self) -> int:
        return self.slots.waiting if self.slots is not None else 0


class DeploymentStates(dict[str, DeploymentState]):
    """Every deployment's state by name, created on first sight. Configured deployments stay;
    `<provider>/<model>` names come from clients, so theirs are kept in an LRU of at most
    `max_direct` (the least recently used is dropped, its in-flight calls finish unharmed)."""

    def __init__(
        self,
        factory: Callable[[Target], DeploymentState],
        max_direct: int = 256,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.factory = factory
        self.configured: set[str] = set()  # filled by the dispatcher from the config
        self.max_direct = max_direct
        self.on_drop = on_drop
        self._direct: OrderedDict[str, None] = OrderedDict()  # ad-hoc names, oldest first

    def of(self, t: Target) -> DeploymentState:
        name = t.name
        st = self.get(name)
        if st is None:
            st = self[name] = self.factory(t)
            if name not in self.configured:
                self._direct[name] = None
                while len(self._direct) > self.max_direct:
                    self.forget(next(iter(self._direct)))
        elif self._direct and name in self._direct:
            self._direct.move_to_end(name)
        return st

    def forget(self, name: str) -> None:
        """Drop an ad-hoc deployment's state (configured ones are never dropped)."""
        if name in self._direct:
            del self._direct[name]
            self.pop(name, None)
            if self.on_drop is not None:
                self.on_drop(name)


class Balancer:
    def __init__(self, states: DeploymentStates, rng: random.Random | None = None):
        self.states = states
        self.rng = rng or random.Random()

    def order(self, kind: str, targets: list[Target]) -> list[Target]:
        """The targets to try, best first; those behind an open breaker are left out."""
        of = self.states.of
        if len(targets) == 1:
            return targets if of(targets[0]).breaker.available() else []
        pool = [t for t in targets if of(t).breaker.available()]
        if len(pool) <= 1:
            return pool
        states = self.states
        rng = self.rng
        if kind == "least_busy":
            return sorted(
                pool,
                key=lambda t: (
                    (states[t.name].in_flight + states[t.name].queued) / t.deployment.weight,
                    rng.random(),
                ),
            )
        if kind == "lowest_latency":
            return sorted(
                pool,
                key=lambda t: (
                    -1.0 if states[t.name].ewma_ms is None else states[t.name].ewma_ms,
                    rng.random(),
                ),
            )
        out: list[Target] = []
        while pool:
            pick = rng.choices(pool, weights=[t.deployment.weight for t in pool])[0]
            pool.remove(pick)
            out.append(pick)
        return out
