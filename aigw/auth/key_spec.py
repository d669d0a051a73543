"""What an API key may be created with: one set of rules for `aigw keys create` and
`POST /v1/admin/api-keys` (both go through `KeyService.create`, which checks here first).

Every value a caller gives becomes stored state read on every request (limits, scopes,
models), so each is checked for type and bounded in size; an `InvalidKeySpec` names the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from aigw.billing.settings import BudgetLimits
from aigw.limits.settings import ScopeLimits

SCOPES = ("chat", "embeddings", "models", "usage", "admin")
MAX_ID = 128  # org and user ids
MAX_NAME = 256  # a key's label; each model name
MAX_MODELS = 1000
MAX_PRIORITY = 1000
MAX_LIFETIME = 100 * 365 * 86400.0
MAX_NUMBER = 10**15  # any limit or budget figure


class InvalidKeySpec(ValueError):
    """A field of a key's definition is invalid; str() is the message for people."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(field: str, v: Any, limit: int, *, required: bool = False) -> str | None:
    if v is None or (v == "" and not required):
        if required:
            raise InvalidKeySpec(field, "is required")
        return None
    if not isinstance(v, str):
        raise InvalidKeySpec(field, "must be a string")
    if required and not v.strip():
        raise InvalidKeySpec(field, "is required")
    if len(v) > limit:
        raise InvalidKeySpec(field, f"is {len(v)} characters long; the most is {limit}")
    if not v.isprintable():
        raise InvalidKeySpec(field, "must not contain control characters")
    return v


def _names(field: str, v: Any, allowed: tuple[str, ...] | None = None) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidKeySpec(field, "must be a list of strings")
    if len(v) > MAX_MODELS:
        raise InvalidKeySpec(field, f"has {len(v)} entries; the most is {MAX_MODELS}")
    for x in v:
        if allowed is not None and x not in allowed:
            raise InvalidKeySpec(field, f"unknown value {x[:64]!r} (one of {', '.join(allowed)})")
        _text(field, x, MAX_NAME, required=True)
    return v


def _section(field: str, model: Any, v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise InvalidKeySpec(field, "must be an object")
    try:
        out = dict(model.model_validate(v, strict=True).model_dump(exclude_unset=True))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown name (one of {', '.join(model.model_fields)})"
        raise InvalidKeySpec(f"{field}.{where}" if where else field, msg) from None
    for k, x in out.items():
        if isinstance(x, int | float) and abs(x) > MAX_NUMBER:  # stored and summed in SQL
            raise InvalidKeySpec(f"{field}.{k}", f"must be at most {MAX_NUMBER}")
    return out


def check(
    *,
    org_id: Any,
    user_id: Any = None,
    name: Any = "",
    models: Any = None,
    scopes: Any = None,
    limits: Any = None,
    budget: Any = None,
    priority: Any = 0,
    expires_in: float | None = None,
) -> dict[str, Any]:
    """The checked values (limits and budget normalised), or `InvalidKeySpec`."""
    if expires_in is not None and not 0 < expires_in <= MAX_LIFETIME:
        raise InvalidKeySpec("expires_in", "must be more than 0 and at most 100 years")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidKeySpec("priority", "must be an integer")
    if abs(priority) > MAX_PRIORITY:
        raise InvalidKeySpec("priority", f"must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    budget_ = _section("budget", BudgetLimits, budget)
    return {
        "org_id": _text("org", org_id, MAX_ID, required=True),
        "user_id": _text("user", user_id, MAX_ID),
        "name": _text("name", name, MAX_NAME) or "",
        "models": _names("models", models),
        "scopes": _names("scopes", scopes, SCOPES),
        "limits": _section("limits", ScopeLimits, limits),
        "budget": budget_ or None,
        "priority": priority,
    }
