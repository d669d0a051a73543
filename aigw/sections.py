"""The building blocks every settings module shares: the error, the value parsers, `Section`.

A leaf module (it imports nothing of aigw), so `aigw/<stage>/settings.py` can be imported first,
alone, without meeting a half-initialised `aigw.config`; `config.py` assembles the sections.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


class ConfigError(Exception):
    """An invalid configuration; str() is the one line shown to the user."""


# --- value parsers shared by every section -------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.I)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_duration(v: Any) -> float:
    """'500ms' | '30s' | '5m' | '2h' | '30d' | a number of seconds -> seconds."""
    if isinstance(v, bool):
        raise ValueError(f"invalid duration {v!r}")
    if isinstance(v, int | float):
        if v < 0:
            raise ValueError("a duration cannot be negative")
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise ValueError(f"invalid duration {v!r} (use e.g. 500ms, 30s, 5m)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def parse_size(v: Any) -> int:
    """'10MB' | '512KiB' | a number of bytes -> bytes."""
    if isinstance(v, bool):
        raise ValueError(f"invalid size {v!r}")
    if isinstance(v, int | float):
        if v < 0:
            raise ValueError("a size cannot be negative")
        return int(v)
    m = _SIZE.match(str(v))
    if not m:
        raise ValueError(f"invalid size {v!r} (use e.g. 512KB, 10MB)")
    unit = m.group(2).lower() if m.group(2) else None
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=False)
