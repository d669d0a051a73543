"""Keys of what the application holds, and short accessors for handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from aigw.config import Config
from aigw.pipeline import RequestContext

if TYPE_CHECKING:
    from aigw.server.framing import Framing
    from aigw.server.gateway import Gateway

CONFIG = web.AppKey("config", Config)
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")

# What a request carries on its way through the handlers.
REQUEST_ID = web.RequestKey("request_id", str)
CTX = web.RequestKey("ctx", RequestContext)
# How the route writes answers and errors (absent: OpenAI's framing).
FRAMING: web.RequestKey[Framing] = web.RequestKey("framing")


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def config(request: web.Request) -> Config:
    return request.app[CONFIG]
