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
from aigw.pipeline import JSONResult
from aigw.providers.anthropic import inbound
from aigw.server.framing.anthropic import MESSAGES
from aigw.server.request import new_context, read_json
from aigw.server.state import FRAMING, REQUEST_ID, gateway
from aigw.server.writer import gateway_headers, run
from aigw.types import GatewayError

log = logging.getLogger("aigw")


def error_response(e: GatewayError, request_id: str) -> web.Response:
    return MESSAGES.error(e, request_id)


async def messages(request: web.Request) -> web.StreamResponse:
    request[FRAMING] = MESSAGES  # errors too, from here on, are written in Anthropic's shape
    body = await read_json(request)
    ctx = new_context(request, "messages", inbound.to_openai(body), stream=bool(body.get("stream")))
    ctx.native = body  # for a deployment that speaks Anthropic's format itself
    return await run(request, ctx, gateway(request).chat, MESSAGES)


async def count_tokens(request: web.Request) -> web.Response:
    """POST /v1/messages/count_tokens: the provider's own count for a model on a provider
    that counts (Anthropic), through the dispatcher (breakers, retries, failover); for every
    other model an estimate (about four characters per token, the same one rate limits
    reserve with). `x-aigw-token-count` says which: upstream | estimate."""
    rid = request[REQUEST_ID]
    try:
        principal = await authenticate_request(request)
        try:
            body = await read_json(request)
        except web.HTTPException as e:
            raise GatewayError(e.status, e.reason or "bad request") from None
        # Validates it as a Messages request would be (count_tokens takes no max_tokens).
        chat = inbound.to_openai({**body, "max_tokens": 1, "stream": False})
        gw = gateway(request)
        gw.accounts.auth.authorize(principal, "messages", chat["model"])
        ctx = new_context(request, "count_tokens", chat)
        ctx.principal = principal
        ctx.native = {k: v for k, v in body.items() if k not in ("stream", "max_tokens")}
        result = await gw.count_tokens(ctx)
        assert isinstance(result, JSONResult)
        headers = {**gateway_headers(ctx), "request-id": rid}
        return web.json_response(result.body, headers=headers)
    except GatewayError as e:
        return error_response(e, rid)
