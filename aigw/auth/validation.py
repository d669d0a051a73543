"""What a key may hold: scopes and per-key limits, checked the same way by every writer
(the CLI today; the admin API shares it). Each check raises `ValueError` with a message that
names the valid choices, so a typo is refused instead of stored and silently ignored."""

from __future__ import annotations

import difflib
from typing import Any

from aigw.limits.settings import LIMIT_FIELDS

# The scopes an API key can carry (`*`: every scope, admin included).
SCOPES = ("chat", "embeddings", "models", "usage", "admin", "*")


def closest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """` (did you mean 'x'?)` for a near miss, else ``."""
    near = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def check_scopes(scopes: list[str]) -> list[str]:
    for s in scopes:
        if s not in SCOPES:
            raise ValueError(
                f"unknown scope {s!r}{closest(s, SCOPES)}; valid scopes: {', '.join(SCOPES)}"
            )
    return scopes


def check_limits(limits: dict[str, Any]) -> dict[str, int | None]:
    """Limit name -> a positive integer, or None (switches that limit off)."""
    out: dict[str, int | None] = {}
    for name, value in limits.items():
        if name not in LIMIT_FIELDS:
            raise ValueError(
                f"unknown limit {name!r}{closest(name, LIMIT_FIELDS)}; "
                f"valid limits: {', '.join(LIMIT_FIELDS)}"
            )
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"limit {name}: must be a positive integer or none (got {value!r})")
        out[name] = value
    return out
