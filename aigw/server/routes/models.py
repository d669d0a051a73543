"""GET /v1/models and /v1/models/{model}: the client-facing model names, OpenAI list shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aigw.auth.stage import PRINCIPAL_MODELS, authenticate_request
from aigw.server.middleware import json_response
from aigw.server.state import gateway
from aigw.types import model_not_found


def _entry(name: str, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}


def _visible(request: web.Request) -> dict[str, str]:
    gw = gateway(request)
    allowed = request.get(PRINCIPAL_MODELS)  # set by auth when a key limits its models
    out: dict[str, str] = {}
    for name in gw.router.model_names():
        if allowed is None or name in allowed:
            out[name] = gw.config.models[name].deployments[0].provider
    return out


async def list_models(request: web.Request) -> web.Response:
    await authenticate_request(request, "models")
    data = [_entry(n, o) for n, o in _visible(request).items()]
    return json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    await authenticate_request(request, "models")
    name = request.match_info["model"]
    owner = _visible(request).get(name)
    if owner is None:
        raise model_not_found(name)
    return json_response(_entry(name, owner))
