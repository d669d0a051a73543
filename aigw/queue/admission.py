"""A request's place in the queue: its priority and how long it may wait to start."""

from __future__ import annotations

import time

from aigw.config import parse_duration
from aigw.pipeline import RequestContext
from aigw.types import bad_request

PRIORITY_HEADER = "x-aigw-priority"
TIMEOUT_HEADER = "x-aigw-timeout"


def priority(ctx: RequestContext) -> int:
    """The key's tier (`principal.priority`, or what a stage put in `ctx.priority`); a key
    allowed to choose may override it with `x-aigw-priority`. Others' header is ignored."""
    p = ctx.priority or ctx.principal.priority
    if ctx.principal.may_set_priority:
        h = ctx.headers.get(PRIORITY_HEADER)
        if h is not None:
            try:
                p = int(h)
            except ValueError:
                raise bad_request(
                    f"{PRIORITY_HEADER} must be an integer (higher is served first)",
                    code="invalid_priority",
                ) from None
    return p


def deadline(ctx: RequestContext, max_wait: float) -> float:
    """The time.monotonic() value after which the request must not start: `x-aigw-timeout`
    (seconds, or a duration such as 500ms), else `routing.queue.max_wait`, and never past
    the request's own deadline (`ctx.deadline`, a perf_counter() value)."""
    wait = max_wait
    h = ctx.headers.get(TIMEOUT_HEADER)
    if h is not None:
        try:
            wait = parse_duration(h.strip())
        except ValueError:
            raise bad_request(
                f"{TIMEOUT_HEADER} must be a duration such as 2.5, 500ms or 10s",
                code="invalid_timeout",
            ) from None
    now = time.monotonic()
    if ctx.deadline is not None:
        wait = min(wait, ctx.deadline - time.perf_counter())
    return now + wait
