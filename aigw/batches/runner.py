"""One line of a batch through the gateway's pipeline: the same stages as an interactive
request (the batch auth stage in auth's place), at the lowest priority, then the outcome the
worker acts on: a result to record, a wait to take the line up again, or the batch's stop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from aigw.batches import objects
from aigw.batches.endpoints import Endpoint
from aigw.cache.replay import chunks_to_completion
from aigw.ids import hex_id
from aigw.pipeline import Handler, JSONResult, RequestContext, StreamResult
from aigw.types import GatewayError, Principal, Usage

log = logging.getLogger("aigw.batches")

# Below every interactive tier: a batch line takes a deployment's slot only when no
# interactive request is waiting for it (queue/slots.py serves higher priorities first).
BATCH_PRIORITY = -(2**31)

# Refusals by the gateway itself that say "not now" rather than "not this line": the line is
# taken up again later and the attempt is not counted.
_NOT_NOW = frozenset({"queue_timeout", "auth_unavailable"})


@dataclass(slots=True)
class Outcome:
    kind: str  # "done" | "retry" | "stop" (budget exhausted: this line and the rest fail)
    ok: bool = False
    request_id: str = ""
    result: bytes = b""
    usage: Usage | None = None
    retry_after: float = 0.0
    counted: bool = True  # a retry: whether the attempt counts against max_attempts
    stop_result: bytes = b""  # a stop: what the lines not yet run get


def _done(ok: bool, rid: str, res: dict[str, Any], usage: Usage | None = None) -> Outcome:
    return Outcome("done", ok, rid, orjson.dumps(res), usage)


async def run_line(
    endpoint: Endpoint,
    handler: Handler,
    creator: Principal,
    batch_id: str,
    body_text: str | bytes,
) -> Outcome:
    rid = hex_id(12)
    request_id = "req_" + rid
    body = orjson.loads(body_text)
    try:
        endpoint.check(body)
        if body.get("stream"):
            raise GatewayError(
                400,
                "Streaming is not available in a batch; remove 'stream'.",
                "invalid_request_error",
                None,
                "stream",
            )
    except GatewayError as e:
        return _done(False, rid, objects.error_answer(e, request_id))
    ctx = RequestContext(
        request_id=request_id,
        endpoint=endpoint.name,
        body=body,
        headers={},
        model=body["model"],
        principal=creator,
        priority=BATCH_PRIORITY,
        batch_id=batch_id,
    )
    try:
        if endpoint.prepare is not None:
            endpoint.prepare(ctx)
        result = await handler(ctx)
        if isinstance(result, StreamResult):  # not asked for: the answer it spells
            result = JSONResult(chunks_to_completion([c async for c in result.chunks]))
    except GatewayError as e:
        ctx.status = e.status
        ctx.error_kind = ctx.error_kind or e.code or e.type
        await ctx.finish()
        return _refused(e, ctx, rid)
    except Exception:
        log.exception("batch line failed in the gateway", extra={"batch": batch_id})
        ctx.status = 500
        await ctx.finish()
        err = GatewayError(500, "Internal error in the gateway.", "api_error", "internal_error")
        return _done(False, rid, objects.error_answer(err, request_id))
    ctx.status = result.status
    await ctx.finish()
    answer = endpoint.framing.answer(ctx, result)  # the body the route would send
    ok = 200 <= result.status < 300
    return _done(ok, rid, objects.answered(result.status, request_id, answer), ctx.usage)


def _refused(e: GatewayError, ctx: RequestContext, rid: str) -> Outcome:
    request_id = ctx.request_id
    if e.code == "insufficient_quota":
        line = _done(False, rid, objects.error_answer(e, request_id))
        line.kind = "stop"
        line.stop_result = orjson.dumps(
            objects.not_run(
                "insufficient_quota",
                "Not run: the budget of the key that created this batch ran out while it "
                "ran. " + e.message,
            )
        )
        return line
    own_limit = e.status == 429 and ctx.attempts == 0 and e.retry_after is not None
    if own_limit or e.code in _NOT_NOW:
        return Outcome("retry", retry_after=e.retry_after or 1.0, counted=False)
    if e.retryable:
        return Outcome(
            "retry",
            retry_after=e.retry_after or 0.0,
            counted=True,
            result=orjson.dumps(objects.error_answer(e, request_id)),
            request_id=rid,
        )
    return _done(False, rid, objects.error_answer(e, request_id))
