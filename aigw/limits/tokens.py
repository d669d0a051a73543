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


def reserve(endpoint: str, body: dict[str, Any], default_max_tokens: int) -> tuple[int, bool]:
    """(tokens to reserve at admission, whether the client stated its completion cap): the
    prompt estimate plus the cap (max_tokens x n, or the default). Embeddings have no cap to
    state and reserve their input only."""
    prompt = estimate_prompt_tokens(endpoint, body)
    if endpoint == "embeddings":
        return prompt, True
    cap = completion_cap(body, 0)  # 0: the client stated none
    return prompt + (cap or default_max_tokens), cap > 0


def reservation(endpoint: str, body: dict[str, Any], default_max_tokens: int) -> int:
    """Tokens to reserve at admission: prompt estimate plus completion cap."""
    return reserve(endpoint, body, default_max_tokens)[0]
