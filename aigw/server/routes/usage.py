"""GET /v1/usage and /v1/usage/costs: the caller's own usage (an API key sees its key, a
JWT user their organisation); admins may ask for any `org` or `key`.

Query: `start`/`since`, `end`/`until` (dates, ISO times, UNIX seconds or `7d`),
`group_by` (comma-separated: model, day; admins also key, org; default model,day),
`org`, `key` (admins)."""

from __future__ import annotations

from aiohttp import web

from aigw.auth.admin import session_admin
from aigw.auth.authenticator import forbidden, token_from
from aigw.auth.stage import authenticate_request
from aigw.billing import report
from aigw.server.middleware import json_response
from aigw.server.state import gateway
from aigw.store.base import StoreUnavailable
from aigw.types import GatewayError, bad_request


async def _report(request: web.Request) -> dict:
    p = None if token_from(request.headers) else await session_admin(request)  # the console
    if p is None:
        p = await authenticate_request(request, "usage")
    q = request.query
    org, key = q.get("org") or None, q.get("key") or None
    if p.is_admin:
        pass  # any org or key, or everything
    elif p.via == "anonymous":
        raise forbidden("Usage reports need a credential (auth is off for this gateway).")
    else:
        if (org and org != p.org_id) or (key and key != p.key_id and p.key_id):
            raise forbidden("You may only read your own usage.")
        org, key = p.org_id, p.key_id or key
    try:
        since = report.parse_time(q.get("start") or q.get("since"))
    except ValueError as e:
        raise bad_request(str(e), "start") from None
    try:
        until = report.parse_time(q.get("end") or q.get("until"), end=True)
    except ValueError as e:
        raise bad_request(str(e), "end") from None
    groups = [g for g in (q.get("group_by") or "model,day").split(",") if g]
    allowed = report.GROUPS if p.is_admin else ("model", "day")
    for g in groups:
        if g not in allowed:
            raise bad_request(f"group_by: one of {', '.join(allowed)}", "group_by")
    accounts = gateway(request).accounts
    try:
        await accounts.usage.flush()  # read your own writes: the last batch too
        return await report.usage(
            accounts.store, org_id=org, key_id=key, since=since, until=until, groups=groups
        )
    except StoreUnavailable:
        raise GatewayError(
            503,
            "Usage reports are unavailable while the database is down; nothing is lost.",
            "api_error",
            "store_unavailable",
            retry_after=5,
        ) from None


async def get_usage(request: web.Request) -> web.Response:
    return json_response(await _report(request))


async def get_costs(request: web.Request) -> web.Response:
    return json_response(report.costs(await _report(request)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/usage", get_usage)
    app.router.add_get("/v1/usage/costs", get_costs)
