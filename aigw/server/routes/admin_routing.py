"""GET /v1/admin/deployments: every deployment's live routing state (admin only)."""

from __future__ import annotations

from aiohttp import web

from aigw.auth.admin import authorize_admin
from aigw.server.middleware import json_response
from aigw.server.state import gateway


async def deployments(request: web.Request) -> web.Response:
    await authorize_admin(request)  # admin key, admin JWT or admin-scoped API key
    snap = gateway(request).dispatcher.snapshot()
    return json_response(
        {"object": "list", "data": [{"id": name, **st} for name, st in sorted(snap.items())]}
    )
