"""Helpers for the rate-limit tests: a mock upstream that holds requests at a gate, and a
read of what a limit has left."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from aigw.bench.mock_upstream import MockOpenAI
from aigw.limits.rules import Check
from aigw.limits.stage import RateLimitStage


class GatedMock(MockOpenAI):
    """Holds every chat request until `gate` is set, counting the ones waiting, so a test can
    see how many requests were admitted while all of them are still in flight."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.waiting = 0

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.waiting += 1
        await self.gate.wait()
        return await super().chat(request)


async def remaining(stage: RateLimitStage, scope: str, ident: str, org: str = "default") -> int:
    """What one scope's first token limit has left (a dry decision of cost 0)."""
    rule = next(r for r in stage.default_rules[scope] if r.resource == "tokens")
    out = await stage.limiter.admit([Check(rule, scope, ident, 0)], org, dry=True)
    return out.remaining[0]


async def until(cond: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (for work that runs after the answer was sent)."""
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if not isinstance(r, bool):
            r = await r
        if r:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)
