"""GET /metrics (Prometheus text format) and GET /v1/admin/metrics (a JSON summary)."""

from __future__ import annotations

from aiohttp import web

from aigw.auth.admin import authorize_admin
from aigw.observability import metrics as metricsmod
from aigw.observability.summary import summary
from aigw.server.middleware import json_response
from aigw.server.state import gateway
from aigw.types import GatewayError


def _metrics(request: web.Request) -> metricsmod.Metrics:
    m = gateway(request).observability.metrics
    if m is None:
        raise GatewayError(
            404,
            "Metrics are off (observability.metrics.enabled: false).",
            "invalid_request_error",
            "not_found",
        )
    return m


async def prometheus(request: web.Request) -> web.Response:
    m = _metrics(request)
    if m.settings.auth == "admin":
        await authorize_admin(request)
    return web.Response(
        body=await m.exposition(), headers={"Content-Type": metricsmod.CONTENT_TYPE}
    )


async def admin_summary(request: web.Request) -> web.Response:
    await authorize_admin(request)  # reads the store: a key fresh from the admin API works
    return json_response(await summary(_metrics(request)))


def add_routes(app: web.Application, path: str) -> None:
    app.router.add_get(path, prometheus)
    app.router.add_get("/v1/admin/metrics", admin_summary)
