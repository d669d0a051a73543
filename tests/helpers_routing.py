"""Helpers for the routing/queue tests: a fake clock that sleeps instantly, configs with
several deployments on one mock upstream, and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import mock_config

MSGS = [{"role": "user", "content": "hi"}]


class FakeTime:
    """A clock the retry waits advance instead of sleeping; every wait is kept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def use_fake_time(gw: Any) -> FakeTime:
    ft = FakeTime()
    d = gw.gateway.dispatcher
    d.clock = ft.clock
    d.retry.sleep = ft.sleep
    return ft


def routed_config(mock_url: str, models: dict[str, Any], **routing: Any) -> dict[str, Any]:
    """The mock provider with the given models (upstream model names tell deployments apart
    in the mock's call log) and a `routing:` section."""
    cfg = mock_config(mock_url)
    cfg["models"] = models
    if routing:
        cfg["routing"] = routing
    return cfg


def upstream_models(mock: Any) -> list[str]:
    return [c["body"]["model"] for c in mock.calls]


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition another task makes true (polling, bounded by the deadline)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
