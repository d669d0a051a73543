"""The dispatcher's per-deployment state as scrape-time gauges, labelled by deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aigw.component import Gauge

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

Snapshot = Callable[[], dict[str, dict[str, Any]]]


def _field(
    snap: Snapshot, name: str, conv: Callable[[Any], float | None] = float
) -> Callable[[], dict[str, float]]:
    def read() -> dict[str, float]:
        out = {}
        for dep, st in snap().items():
            v = st.get(name)
            v = conv(v) if v is not None else None
            if v is not None:
                out[dep] = v
        return out

    return read


def deployment_gauges(snap: Snapshot) -> list[Gauge]:
    dep = ("deployment",)
    return [
        Gauge(
            "queue_length", _field(snap, "queued"), "Requests waiting for a concurrency slot.", dep
        ),
        Gauge(
            "deployment_in_flight", _field(snap, "in_flight"), "Upstream calls in progress.", dep
        ),
        Gauge(
            "deployment_concurrency_limit",
            _field(snap, "limit"),
            "Configured concurrency cap (max_concurrency).",
            dep,
            mode="max",
        ),
        Gauge(
            "breaker_state",
            _field(snap, "breaker_state", BREAKER_STATES.get),
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            dep,
            mode="max",
        ),
        Gauge(
            "breaker_trips",
            _field(snap, "breaker_trips"),
            "Times the breaker opened since start (per live worker, summed).",
            dep,
        ),
        Gauge(
            "queue_rejected_requests",
            _field(snap, "queue_rejected"),
            "Requests refused because no slot freed in time, since start (live workers).",
            dep,
        ),
    ]
