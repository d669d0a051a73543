"""In-flight coalescing: identical non-streaming chat requests at temperature 0 that arrive
while one of them is still being answered share its upstream call.

Only temperature 0 qualifies (the client asked for the one most likely answer, so one answer
serves all). The key is the whole request body (sorted keys) and the caller's organisation,
so one org never receives an answer computed for another's request. The shared call runs in
its own task: the first caller going away does not cancel the others' answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from aigw.pipeline import JSONResult, RequestContext, Result


def coalescible(ctx: RequestContext) -> bool:
    b = ctx.body
    return not ctx.stream and b.get("temperature") == 0 and not b.get("stream")


class Coalescer:
    def __init__(self) -> None:
        self._inflight: dict[bytes, tuple[asyncio.Task[Result], RequestContext]] = {}
        self.shared = 0  # requests answered from another's call

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(
        self, ctx: RequestContext, call: Callable[[RequestContext], Coroutine[Any, Any, Result]]
    ) -> Result:
        # The client's own request: two /v1/messages requests that differ only in fields
        # the chat form has no room for (thinking, cache_control) are different requests.
        asked = ctx.native if ctx.native is not None else ctx.body
        key = (
            ctx.principal.org_id.encode()
            + b"\0"
            + ctx.endpoint.encode()
            + b"\0"
            + orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)
        )
        hit = self._inflight.get(key)
        if hit is not None:
            task, leader = hit
            self.shared += 1
            result = await asyncio.shield(task)
            _follow(ctx, leader)
            if isinstance(result, JSONResult):
                return JSONResult(result.body, result.status, result.raw, result.native)
            return result
        task = asyncio.get_running_loop().create_task(call(ctx))
        self._inflight[key] = (task, ctx)
        task.add_done_callback(lambda t: self._done(key, t))
        return await asyncio.shield(task)

    def _done(self, key: bytes, task: asyncio.Task[Result]) -> None:
        if self._inflight.get(key, (None,))[0] is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: nobody may be left to await it


def _follow(ctx: RequestContext, leader: RequestContext) -> None:
    """A follower's record: the deployment and usage of the call it shared, no attempts."""
    ctx.provider = leader.provider
    ctx.deployment = leader.deployment
    ctx.upstream_model = leader.upstream_model
    ctx.upstream_ms = leader.upstream_ms
    ctx.usage = leader.usage
    ctx.response_headers["x-aigw-coalesced"] = "1"
    ctx.extra_log["coalesced"] = True
