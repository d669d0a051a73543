"""Embeddings micro-batching: concurrent `/v1/embeddings` calls to one deployment share one
upstream call.

The first call for a (deployment, parameters) pair opens a batch and a short window
(`routing.queue.batch_embeddings.window`, a few ms); calls with the same parameters that
arrive inside it join, up to `max_inputs` inputs per upstream call. The combined answer is
split back: each caller gets exactly its own vectors, in its own order, re-indexed from 0,
and its share of the prompt tokens (the upstream reports one total; it is divided in
proportion to the callers' input sizes, and the parts add up to the total). One failure of
the combined call is every member's failure (each then retries or fails over by itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from aigw.pipeline import RequestContext
from aigw.types import GatewayError

# (ctx of the first member, the combined request body) -> the upstream's OpenAI-shaped answer
Send = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def inputs_of(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """The request's inputs as a list, and their kind ("text" or "tokens"): a string, or one
    token array, is one input."""
    inp = body.get("input")
    if isinstance(inp, str):
        return "text", [inp]
    if inp and all(isinstance(x, int) for x in inp):
        return "tokens", [inp]
    if inp and all(isinstance(x, str) for x in inp):
        return "text", list(inp)
    return "tokens", list(inp or [])


def _size(item: Any) -> int:
    return len(item) if isinstance(item, str | list) else 1


class _Member:
    __slots__ = ("ctx", "future", "items")

    def __init__(self, ctx: RequestContext, items: list[Any]) -> None:
        self.ctx = ctx
        self.items = items
        self.future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()


class _Batch:
    __slots__ = ("count", "key", "members", "template", "timer")

    def __init__(self, key: bytes, template: dict[str, Any]) -> None:
        self.key = key
        self.template = template
        self.members: list[_Member] = []
        self.count = 0
        self.timer: asyncio.TimerHandle | None = None


class EmbeddingBatcher:
    def __init__(self, window: float, max_inputs: int) -> None:
        self.window = window
        self.max_inputs = max_inputs
        self._open: dict[bytes, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.upstream_calls = 0  # combined calls sent (tests and metrics)
        self.coalesced = 0  # member requests that shared a call with another

    async def submit(self, ctx: RequestContext, deployment: str, send: Send) -> dict[str, Any]:
        kind, items = inputs_of(ctx.body)
        if len(items) >= self.max_inputs:
            self.upstream_calls += 1
            return await send(ctx, ctx.body)  # already a full batch
        params = {k: v for k, v in ctx.body.items() if k != "input"}
        key = orjson.dumps([deployment, kind, params], option=orjson.OPT_SORT_KEYS)
        batch = self._open.get(key)
        if batch is not None and batch.count + len(items) > self.max_inputs:
            self._flush(batch, send)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(key, params)
            batch.timer = asyncio.get_running_loop().call_later(
                self.window, self._flush, batch, send
            )
        member = _Member(ctx, items)
        batch.members.append(member)
        batch.count += len(items)
        if batch.count >= self.max_inputs:
            self._flush(batch, send)
        return await member.future

    def _flush(self, batch: _Batch, send: Send) -> None:
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        if not batch.members:
            return
        task = asyncio.get_running_loop().create_task(self._run(batch, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: _Batch, send: Send) -> None:
        members = [m for m in batch.members if not m.future.done()]  # cancelled callers left
        if not members:
            return
        self.upstream_calls += 1
        if len(members) > 1:
            self.coalesced += len(members)
        combined = [x for m in members for x in m.items]
        body = {**batch.template, "input": combined}
        try:
            out = await send(members[0].ctx, body)
            parts = split(out, members)
        except asyncio.CancelledError:
            for m in members:
                m.future.cancel()
            raise
        except Exception as e:
            err = e if isinstance(e, GatewayError) else _bad(e)
            for m in members:
                if not m.future.done():
                    m.future.set_exception(err)
            return
        for m, part in zip(members, parts, strict=True):
            if not m.future.done():
                m.future.set_result(part)


def split(out: dict[str, Any], members: list[_Member]) -> list[dict[str, Any]]:
    """Cut the combined answer back into one answer per member."""
    data = sorted(out.get("data") or [], key=lambda d: d.get("index", 0))
    total = sum(len(m.items) for m in members)
    if len(data) != total:
        raise GatewayError(
            502,
            f"upstream returned {len(data)} embeddings for {total} inputs",
            "api_error",
            "bad_upstream_response",
            retryable=True,
        )
    usage = out.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or 0)
    sizes = [sum(_size(x) for x in m.items) for m in members]
    whole = sum(sizes) or 1
    shares = [tokens * s // whole for s in sizes]
    shares[-1] += tokens - sum(shares)  # the parts add up to what the upstream counted
    parts = []
    at = 0
    for m, share in zip(members, shares, strict=True):
        mine = data[at : at + len(m.items)]
        at += len(m.items)
        part = {k: v for k, v in out.items() if k not in ("data", "usage")}
        part["data"] = [{**d, "index": i} for i, d in enumerate(mine)]
        part["usage"] = {"prompt_tokens": share, "total_tokens": share}
        parts.append(part)
    return parts


def _bad(e: BaseException) -> GatewayError:
    return GatewayError(502, f"embeddings batch failed ({type(e).__name__})", "api_error")
