"""Admin authorisation for /v1/admin/*: the admin key (AIGW_ADMIN_KEY) for now; the keys
component extends this to admin JWTs and admin-scoped API keys."""

from __future__ import annotations

import hmac
import os

from aiohttp import web

from aigw.types import GatewayError


def bearer(request: web.Request) -> str | None:
    h = request.headers.get("Authorization", "")
    if h[:7].lower() == "bearer ":
        return h[7:].strip() or None
    return request.headers.get("x-api-key") or None


def require_admin(request: web.Request) -> None:
    """Raise 401/403 unless the caller presents the admin key."""
    token = bearer(request)
    if token is None:
        raise GatewayError(
            401,
            "Missing admin credentials: send 'Authorization: Bearer <admin key>'.",
            "invalid_request_error",
            "missing_api_key",
        )
    admin_key = os.environ.get("AIGW_ADMIN_KEY")
    if not admin_key or not hmac.compare_digest(token.encode(), admin_key.encode()):
        raise GatewayError(
            403,
            "This endpoint needs admin rights.",
            "invalid_request_error",
            "insufficient_permissions",
        )
