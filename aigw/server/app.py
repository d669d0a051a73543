"""The aiohttp application: middlewares, routes, and the gateway's lifecycle."""

from __future__ import annotations

from aiohttp import web

from aigw.batches import routes as batch_routes
from aigw.config import Config
from aigw.server import middleware, openapi
from aigw.server.gateway import Gateway
from aigw.server.routes import admin as admin_keys
from aigw.server.routes import (
    admin_reports,
    admin_routing,
    chat,
    embeddings,
    health,
    messages,
    metrics,
    models,
    responses,
)
from aigw.server.routes import usage as usage_routes
from aigw.server.state import CONFIG, GATEWAY


def create_app(config: Config, gateway: Gateway | None = None) -> web.Application:
    gw = gateway or Gateway(config)
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[middleware.request_context],
        # Request bodies are inflated by server/inflate.py (bounded, off the loop), not by
        # aiohttp's parser inside data_received.
        handler_args={"max_field_size": 16384, "auto_decompress": False},
    )
    app[GATEWAY] = gw
    app[CONFIG] = config
    app.router.add_get("/health", health.health)
    app.router.add_get("/v1/models", models.list_models)
    app.router.add_get("/v1/models/{model:.+}", models.get_model)
    app.router.add_post("/v1/chat/completions", chat.chat_completions)
    app.router.add_post("/v1/embeddings", embeddings.embeddings)
    app.router.add_post("/v1/messages", messages.messages)
    app.router.add_post("/v1/messages/count_tokens", messages.count_tokens)
    responses.add_routes(app)  # /v1/responses, its retrieval and input items
    admin_keys.add_routes(app)  # /v1/admin/api-keys, /v1/admin/users
    usage_routes.add_routes(app)  # /v1/usage, /v1/usage/costs
    app.router.add_get("/v1/admin/deployments", admin_routing.deployments)
    admin_reports.add_routes(app)  # /v1/admin/overview, /v1/admin/requests, /v1/admin/audit
    batch_routes.add_routes(app, gw.batches)  # /v1/files, /v1/batches
    metrics.add_routes(app, config.observability.metrics.path)
    openapi.add_routes(app)  # /openapi.json
    if config.ui.enabled:
        from aigw.ui import routes as ui

        ui.add_routes(app)  # /ui: the admin console

    async def start(_: web.Application) -> None:
        await gw.start()

    async def stop(_: web.Application) -> None:
        await gw.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app
