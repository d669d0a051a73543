"""Token limits: reserve at admission, settle when the response ends.

A request reserves its prompt estimate plus its completion cap (max_tokens, or the
configured default) against every token limit at once. When the response has ended (a
stream included) the reservation is settled to the real usage: the difference is given back,
or charged when the upstream used more than reserved (the counter then runs into debt and
later requests wait). Token budgets are counted in fixed windows aligned to the Unix epoch.
"""

from __future__ import annotations

import math
from typing import Any

from aigw.limits.estimate import completion_cap, estimate_prompt_tokens


def window(
    win: int, used: int, now: float, cost: int, limit: int, period: float
) -> tuple[bool, int, int, int, float, float]:
    """A budget of `limit` per epoch-aligned `period`. `win`/`used` is the stored state.
    -> (allowed, current window, new used, remaining, reset, wait)."""
    cur = math.floor(now / period)
    if win != cur:
        used = 0
    reset = (cur + 1) * period - now
    if used + cost > limit:
        wait = math.inf if cost > limit else reset
        return False, cur, used, max(0, limit - used), reset, wait
    return True, cur, used + cost, max(0, limit - used - cost), reset, 0.0


def has_completion_cap(endpoint: str, body: dict[str, Any]) -> bool:
    """Whether the client stated its completion cap (embeddings have none to state)."""
    if endpoint == "embeddings":
        return True
    return any(
        isinstance(v, int) and not isinstance(v, bool) and v > 0
        for v in (body.get("max_completion_tokens"), body.get("max_tokens"))
    )


def reservation(endpoint: str, body: dict[str, Any], default_max_tokens: int) -> int:
    """Tokens to reserve at admission: prompt estimate plus completion cap."""
    prompt = estimate_prompt_tokens(endpoint, body)
    if endpoint == "embeddings":
        return prompt
    return prompt + completion_cap(body, default_max_tokens)


def reserve(endpoint: str, body: dict[str, Any], default_max_tokens: int) -> tuple[int, bool]:
    """(reservation(...), has_completion_cap(...)) in one look at the body."""
    prompt = estimate_prompt_tokens(endpoint, body)
    if endpoint == "embeddings":
        return prompt, True
    cap = completion_cap(body, 0)  # 0: the client stated none
    return prompt + (cap or default_max_tokens), cap > 0
