"""Keys of what the application holds, and short accessors for handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from aigw.config import Config

if TYPE_CHECKING:
    from aigw.server.gateway import Gateway

CONFIG = web.AppKey("config", Config)
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def config(request: web.Request) -> Config:
    return request.app[CONFIG]
