"""/v1/admin/api-keys and /v1/admin/users: key management over HTTP (admin only).

GET /v1/admin/metrics belongs to observability; these handlers only manage identities.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from aigw.auth.admin import authorize_admin
from aigw.auth.key_spec import InvalidKeySpec
from aigw.auth.keys import KeyNotFound
from aigw.config import parse_duration
from aigw.server.middleware import json_response
from aigw.server.request import read_json
from aigw.server.state import gateway
from aigw.store.base import StoreUnavailable
from aigw.types import GatewayError, Principal, bad_request

Route = Callable[[web.Request], Awaitable[web.Response]]


def store_errors(handler: Route) -> Route:
    """A database that is down is a 503 (retry later), not an internal error."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except StoreUnavailable:
            raise GatewayError(
                503,
                "The key store is unavailable right now; retry shortly.",
                "api_error",
                "store_unavailable",
                retry_after=5,
            ) from None

    return run


def _actor(p: Principal) -> str:
    return f"{p.via}:{p.key_id or p.user_id or 'admin'}"


def _not_found(e: KeyNotFound) -> GatewayError:
    return GatewayError(404, e.args[0], "invalid_request_error", "key_not_found")


@store_errors
async def create_key(request: web.Request) -> web.Response:
    admin = await authorize_admin(request)
    body = await read_json(request)
    expires_in = None
    if body.get("expires_in") is not None:
        try:
            expires_in = parse_duration(body["expires_in"])
        except ValueError as e:
            raise bad_request(f"'expires_in': {e}", "expires_in") from None
    for name in ("may_set_priority", "cache_enabled"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise bad_request(f"'{name}' must be a boolean", name)
    try:
        plain, rec = await gateway(request).accounts.keys.create(
            body.get("org", ""),
            user_id=body.get("user"),
            name=body.get("name") or "",
            expires_in=expires_in,
            models=body.get("models"),
            scopes=body.get("scopes"),
            limits=body.get("limits"),
            budget=body.get("budget") or None,
            priority=body.get("priority") or 0,
            may_set_priority=bool(body.get("may_set_priority")),
            cache_enabled=body.get("cache_enabled") is not False,
            actor=_actor(admin),
        )
    except InvalidKeySpec as e:  # the same rules as `aigw keys create` (auth/key_spec.py)
        raise bad_request(f"'{e.field}' {e.message}", e.field) from None
    return json_response({"object": "api_key", "key": plain, **rec.public()}, status=201)


@store_errors
async def list_keys(request: web.Request) -> web.Response:
    await authorize_admin(request)
    recs = await gateway(request).accounts.keys.list(request.query.get("org") or None)
    return json_response({"object": "list", "data": [r.public() for r in recs]})


@store_errors
async def revoke_key(request: web.Request) -> web.Response:
    admin = await authorize_admin(request)
    accounts = gateway(request).accounts
    try:
        rec = await accounts.keys.revoke(request.match_info["key"], actor=_actor(admin))
    except KeyNotFound as e:
        raise _not_found(e) from None
    accounts.auth.cache.forget(rec.id)  # this process stops honouring it now
    return json_response({"object": "api_key", **rec.public()})


@store_errors
async def rotate_key(request: web.Request) -> web.Response:
    admin = await authorize_admin(request)
    grace = None
    if request.can_read_body:
        body = await read_json(request)
        if body.get("grace") is not None:
            try:
                grace = parse_duration(body["grace"])
            except ValueError as e:
                raise bad_request(f"'grace': {e}", "grace") from None
    accounts = gateway(request).accounts
    try:
        plain, new, old = await accounts.keys.rotate(
            request.match_info["key"], grace, actor=_actor(admin)
        )
    except KeyNotFound as e:
        raise _not_found(e) from None
    accounts.auth.cache.forget(old.id)
    return json_response(
        {"object": "api_key", "key": plain, **new.public(), "old": old.public()}, status=201
    )


@store_errors
async def list_users(request: web.Request) -> web.Response:
    await authorize_admin(request)
    users = await gateway(request).accounts.store.list_users(request.query.get("org") or None)
    return json_response({"object": "list", "data": users})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/admin/api-keys", create_key)
    app.router.add_get("/v1/admin/api-keys", list_keys)
    app.router.add_delete("/v1/admin/api-keys/{key}", revoke_key)
    app.router.add_post("/v1/admin/api-keys/{key}/rotate", rotate_key)
    app.router.add_get("/v1/admin/users", list_users)
