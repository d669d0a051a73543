"""Usage and cost reports, shared by GET /v1/usage(/costs) and `aigw usage`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aigw.store.base import Store

GROUPS = ("model", "day", "key", "org")
_REL = re.compile(r"^(\d+)([dh])$")


MAX_TIME = 253402300799.0  # 9999-12-31T23:59:59Z


def parse_time(value: str | None, *, end: bool = False) -> float | None:
    """`2026-11-01` | `2026-11-01T12:00:00Z` | UNIX seconds | `7d` / `12h` (ago) -> seconds.
    A bare date as an end bound means the end of that day."""
    if value is None or value == "":
        return None
    v = value.strip()
    bad = ValueError(
        f"invalid time {value[:40]!r} (use 2026-11-01, 2026-11-01T12:00:00Z, UNIX seconds "
        "up to year 9999, or 7d)"
    )
    m = _REL.match(v)
    if m:
        n = int(m.group(1))
        if n > 3_650_000:  # 10,000 years back is before any record; larger overflows
            raise bad
        delta = timedelta(days=n) if m.group(2) == "d" else timedelta(hours=n)
        return (datetime.now(UTC) - delta).timestamp()
    try:
        t = float(v)
    except ValueError:
        pass
    else:
        if not 0 <= t <= MAX_TIME:  # also rejects inf and nan (1e309 parses as inf)
            raise bad
        return t
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise bad from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    if end and len(v) == 10:
        try:
            d += timedelta(days=1)
        except OverflowError:
            raise bad from None
    return d.timestamp()


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z") if ts else None


async def usage(
    store: Store,
    *,
    org_id: str | None,
    key_id: str | None,
    since: float | None,
    until: float | None,
    groups: list[str],
) -> dict[str, Any]:
    q: dict[str, Any] = {"org_id": org_id, "key_id": key_id, "since": since, "until": until}
    (totals,) = await store.usage_report(**q)
    out: dict[str, Any] = {
        "object": "usage",
        "org": org_id,
        "key": key_id,
        "since": _iso(since),
        "until": _iso(until),
        "totals": totals,
    }
    for g in groups:
        out[f"by_{g}"] = await store.usage_report(**q, by=g)
    return out


def costs(report: dict[str, Any]) -> dict[str, Any]:
    """The cost view of a usage report."""

    def cost_row(r: dict[str, Any], g: str | None) -> dict[str, Any]:
        row = {g: r[g]} if g else {}
        row.update(requests=r["requests"], cost_usd=r["cost_usd"], saved_usd=r["saved_usd"])
        return row

    out = {
        "object": "costs",
        "currency": "usd",
        "org": report["org"],
        "key": report["key"],
        "since": report["since"],
        "until": report["until"],
        "totals": cost_row(report["totals"], None),
    }
    for g in GROUPS:
        if f"by_{g}" in report:
            out[f"by_{g}"] = [cost_row(r, g) for r in report[f"by_{g}"]]
    return out
