"""POST /v1/messages: Anthropic's Messages API in front of every configured model.

The request is translated to an OpenAI chat body and runs the gateway's one pipeline (auth,
limits, cache, routing, failover), so an Anthropic SDK client gets the same treatment as an
OpenAI one; the answer is written back in Anthropic's shapes: a `message`, its SSE event
sequence, or `{"type": "error", "error": {...}}` with the status Anthropic would use
(`server/framing/anthropic.py`, through the one writer `server/writer.py`).
"""

from __future__ import annotations

import logging

from aiohttp import web

from aigw.auth.stage import authenticate_request
from aigw.limits.estimate import estimate_prompt_tokens
from aigw.providers import anthropic_inbound as inbound
from aigw.providers.anthropic import AnthropicAdapter
from aigw.providers.base import UpstreamRequest
from aigw.server.framing.anthropic import MESSAGES
from aigw.server.request import new_context, read_json
from aigw.server.state import FRAMING, REQUEST_ID, gateway
from aigw.server.writer import run
from aigw.types import GatewayError, model_not_found

log = logging.getLogger("aigw")


def error_response(e: GatewayError, request_id: str) -> web.Response:
    return MESSAGES.error(e, request_id)


async def messages(request: web.Request) -> web.StreamResponse:
    request[FRAMING] = MESSAGES  # errors too, from here on, are written in Anthropic's shape
    body = await read_json(request)
    ctx = new_context(request, "messages", inbound.to_openai(body), stream=bool(body.get("stream")))
    return await run(request, ctx, gateway(request).chat, MESSAGES)


async def count_tokens(request: web.Request) -> web.Response:
    """POST /v1/messages/count_tokens: the provider's own count for a model on an Anthropic
    upstream; for every other model an estimate (about four characters per token, the same
    one rate limits reserve with), said so in `x-aigw-token-count: estimate`."""
    rid = request[REQUEST_ID]
    headers = {"X-Request-ID": rid, "request-id": rid}
    try:
        principal = await authenticate_request(request)
        try:
            body = await read_json(request)
        except web.HTTPException as e:
            raise GatewayError(e.status, e.reason or "bad request") from None
        # Validates it as a Messages request would be (count_tokens takes no max_tokens).
        chat = inbound.to_openai({**body, "max_tokens": 1, "stream": False})
        model = body["model"]
        gw = gateway(request)
        gw.accounts.auth.authorize(principal, "messages", model)
        targets = gw.router.targets(model)
        if not targets and model not in gw.config.routers:
            raise model_not_found(model)
        t = targets[0] if targets else None
        if t is not None and isinstance(t.adapter, AnthropicAdapter):
            native = {k: v for k, v in body.items() if k not in ("stream", "max_tokens")}
            native["model"] = t.upstream_model
            req = UpstreamRequest(
                "/v1/messages/count_tokens", native, t.adapter.headers(t.provider)
            )
            status, up_headers, raw = await gw.client.post(t.provider, req, {"X-Request-ID": rid})
            if status >= 400:
                raise t.adapter.error(status, raw, up_headers)
            headers["x-aigw-token-count"] = "upstream"
            return web.Response(body=raw, content_type="application/json", headers=headers)
        headers["x-aigw-token-count"] = "estimate"
        count = {"input_tokens": estimate_prompt_tokens("chat", chat)}
        return web.json_response(count, headers=headers)
    except GatewayError as e:
        return error_response(e, rid)
