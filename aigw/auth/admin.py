"""Admin authorisation for /v1/admin/*: the admin key (AIGW_ADMIN_KEY), a JWT whose role
claim holds the admin role, or an API key with the `admin` scope."""

from __future__ import annotations

import hmac
import os
from typing import Protocol

from aiohttp import web

from aigw.auth.authenticator import token_from
from aigw.types import GatewayError, Principal


def _missing() -> GatewayError:
    return GatewayError(
        401,
        "Missing admin credentials: send 'Authorization: Bearer <admin key>'.",
        "invalid_request_error",
        "missing_api_key",
    )


def _not_admin() -> GatewayError:
    return GatewayError(
        403,
        "This endpoint needs admin rights.",
        "invalid_request_error",
        "insufficient_permissions",
    )


def _is_admin_key(token: str) -> bool:
    admin_key = os.environ.get("AIGW_ADMIN_KEY")
    return bool(admin_key) and hmac.compare_digest(token.encode(), admin_key.encode())  # type: ignore[union-attr]


def _accounts_auth(request: web.Request):  # type: ignore[no-untyped-def]
    from aigw.server.state import GATEWAY

    gw = request.app.get(GATEWAY)
    accounts = getattr(gw, "accounts", None)
    return getattr(accounts, "auth", None)


class SessionAuth(Protocol):
    """Another way in for /v1/admin/*: the admin console's signed-in session (aigw/ui)."""

    async def principal(self, request: web.Request) -> Principal | None: ...


# The console registers its sessions here when it is on (aigw/ui/routes.py).
ADMIN_SESSIONS: web.AppKey[SessionAuth] = web.AppKey("admin_sessions")


async def admin_from_token(request: web.Request, token: str) -> Principal:
    """The admin principal of a bearer credential, or 403."""
    if _is_admin_key(token):
        return Principal(org_id="admin", is_admin=True, via="admin_key")
    auth = _accounts_auth(request)
    if auth is None:
        raise _not_admin()
    p = await auth.authenticate(token)
    if not p.is_admin:
        raise _not_admin()
    return p


async def session_admin(request: web.Request) -> Principal | None:
    """The console session's admin principal, when the request carries no bearer token."""
    sessions = request.app.get(ADMIN_SESSIONS)
    return None if sessions is None else await sessions.principal(request)


async def authorize_admin(request: web.Request) -> Principal:
    """The admin principal: admin key, admin JWT, admin-scoped API key (from the store), or
    the console's session cookie (with its CSRF token on changes)."""
    token = token_from(request.headers)
    if token is None:
        p = await session_admin(request)
        if p is None:
            raise _missing()
        return p
    return await admin_from_token(request, token)
