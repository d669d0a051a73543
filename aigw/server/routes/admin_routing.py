"""GET /v1/admin/deployments: every deployment's live routing state (admin only)."""

from __future__ import annotations

from aiohttp import web

from aigw.auth.admin import require_admin
from aigw.server.middleware import json_response
from aigw.server.state import gateway


async def deployments(request: web.Request) -> web.Response:
    require_admin(request)
    snap = gateway(request).dispatcher.snapshot()
    return json_response(
        {"object": "list", "data": [{"id": name, **st} for name, st in sorted(snap.items())]}
    )
