"""Read-only admin reports (admin only): GET /v1/admin/overview, /v1/admin/requests and
/v1/admin/audit. The console's pages read these; so can any script with the admin key."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from aigw.auth.admin import authorize_admin
from aigw.server.middleware import json_response
from aigw.server.routes.admin import store_errors
from aigw.server.state import config, gateway
from aigw.types import bad_request

_ID = re.compile(r"^[A-Za-z0-9._:/@\-]{1,200}$")  # ids, model and deployment names
_DAY = 86400.0


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer", name) from None
    if not lo <= n <= hi:
        raise bad_request(f"'{name}' must be between {lo} and {hi}", name)
    return n


def _name(request: web.Request, name: str) -> str | None:
    v = request.query.get(name)
    if v is None or v == "":
        return None
    if not _ID.match(v):
        raise bad_request(f"'{name}' is not a valid id or name", name)
    return v


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))], 3)


def _start_of_day(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


@store_errors
async def overview(request: web.Request) -> web.Response:
    """Today (UTC) and the last 7 days from the usage records (every instance's), and what
    this process's metrics say since it started."""
    await authorize_admin(request)
    gw = gateway(request)
    store = gw.accounts.store
    await gw.accounts.usage.flush()  # read your own writes
    now = time.time()
    periods: dict[str, Any] = {}
    for name, since in (
        ("today", _start_of_day(now)),
        ("last_7_days", _start_of_day(now) - 6 * _DAY),
    ):
        (totals,) = await store.usage_report(since=since)
        health = await store.usage_health(since)
        lat = health["latencies_ms"]
        periods[name] = {
            "since": datetime.fromtimestamp(since, UTC).isoformat().replace("+00:00", "Z"),
            **totals,
            "errors": health["errors"],
            "cache_hit_rate": round(totals["cache_hits"] / totals["requests"], 6)
            if totals["requests"]
            else None,
            "latency_ms": {
                "p50": _percentile(lat, 0.5),
                "p99": _percentile(lat, 0.99),
                "sample": len(lat),
            },
        }
    by_day = await store.usage_report(since=_start_of_day(now) - 6 * _DAY, by="day")
    return json_response({"object": "overview", **periods, "by_day": by_day})


def _request_row(r: dict[str, Any], contents: dict[str, Any] | None) -> dict[str, Any]:
    row = {
        "id": r["id"],
        "request_id": r["request_id"],
        "ts": r["ts"],
        "org": r["org_id"],
        "user": r["user_id"],
        "key_id": r["key_id"],
        "key_prefix": r["key_prefix"],
        "endpoint": r["endpoint"],
        "model": r["model"],
        "provider": r["provider"],
        "deployment": r["deployment"],
        "status": r["status"],
        "latency_ms": r["latency_ms"],
        "prompt_tokens": r["prompt_tokens"],
        "completion_tokens": r["completion_tokens"],
        "cached_tokens": r["cached_tokens"],
        "cost_usd": r["cost_usd"],
        "saved_usd": r["saved_usd"],
        "cache": r["cache"],
    }
    if contents is not None:
        row["prompt"], row["answer"] = contents.get("prompt"), contents.get("answer")
    return row


@store_errors
async def requests(request: web.Request) -> web.Response:
    """The latest requests, newest first. Query: limit (1-500), before (a row id, to page),
    org, key (id), model, deployment, status=error. With `logging.log_prompts` on, each row
    this instance served recently also carries its prompt and answer."""
    await authorize_admin(request)
    status = request.query.get("status") or None
    if status not in (None, "error"):
        raise bad_request("'status' may only be 'error'", "status")
    limit = _int(request, "limit", 50, 1, 500)
    gw = gateway(request)
    await gw.accounts.usage.flush()
    rows = await gw.accounts.store.recent_usage(
        limit,
        before=_name(request, "before"),
        org_id=_name(request, "org"),
        key_id=_name(request, "key"),
        model=_name(request, "model"),
        deployment=_name(request, "deployment"),
        errors_only=status == "error",
    )
    recent = gw.observability.recent_contents if config(request).logging.log_prompts else None
    data = [_request_row(r, recent.get(r["request_id"]) if recent else None) for r in rows]
    return json_response(
        {
            "object": "list",
            "data": data,
            "has_more": len(data) == limit,
            "log_prompts": recent is not None,
        }
    )


@store_errors
async def audit(request: web.Request) -> web.Response:
    """The admin audit log, newest first: key creation, revocation, rotation, console
    sign-ins (and failed ones), sign-outs. Query: limit (1-500), before (an entry id),
    action (e.g. keys.create)."""
    await authorize_admin(request)
    action = _name(request, "action")
    before = _int(request, "before", 0, 0, 2**62) or None
    limit = _int(request, "limit", 100, 1, 500)
    entries = await gateway(request).accounts.store.audit_entries(
        limit, before=before, action=action
    )
    return json_response({"object": "list", "data": entries, "has_more": len(entries) == limit})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/overview", overview)
    app.router.add_get("/v1/admin/requests", requests)
    app.router.add_get("/v1/admin/audit", audit)
