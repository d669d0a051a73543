"""Admin authorisation for /v1/admin/*: the admin key (AIGW_ADMIN_KEY), a JWT whose role
claim holds the admin role, or an API key with the `admin` scope."""

from __future__ import annotations

import hmac
import os

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


async def authorize_admin(request: web.Request) -> Principal:
    """The admin principal: admin key, admin JWT, or admin-scoped API key (from the store)."""
    token = token_from(request.headers)
    if token is None:
        raise _missing()
    if _is_admin_key(token):
        return Principal(org_id="admin", is_admin=True, via="admin_key")
    auth = _accounts_auth(request)
    if auth is None:
        raise _not_admin()
    p = await auth.authenticate(token)
    if not p.is_admin:
        raise _not_admin()
    return p
