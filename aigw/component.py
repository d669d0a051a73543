"""The contract between the gateway and each of its parts.

A component has at most one stage on the request's way (on every endpoint, or on those it
names), something to open at start and to close at stop, and gauges it reports at scrape
time. `server/gateway.py` builds the parts
from one ordered list: they start in its order, stop in reverse, their stages form the chain
in the same order, and observability registers every part's gauges without knowing names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aigw.pipeline import Handler, RequestContext, Result, Stage

# A number, or label value(s) -> number (see Metrics.register_gauge_source).
GaugeFn = Callable[[], float | Mapping[Any, float]]


@dataclass(frozen=True, slots=True)
class Gauge:
    name: str
    read: GaugeFn
    doc: str
    labels: tuple[str, ...] = ()
    mode: str = "sum"  # across workers: "sum", or "max" (states, shared directories)


class Component:
    """Defaults: no stage, nothing to open or close, no gauges."""

    @property
    def stage(self) -> Stage | None:
        return None

    @property
    def endpoints(self) -> frozenset[str] | None:
        """The endpoints whose requests go through its stage (None: every one)."""
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def gauges(self) -> Iterable[Gauge]:
        return ()


class StageComponent(Component):
    """A component that is itself its stage."""

    @property
    def stage(self) -> Stage:
        return self

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        raise NotImplementedError
