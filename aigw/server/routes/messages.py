"""POST /v1/messages: Anthropic's Messages API in front of every configured model.

The request is translated to an OpenAI chat body and runs the gateway's one pipeline (auth,
limits, cache, routing, failover), so an Anthropic SDK client gets the same treatment as an
OpenAI one; the answer is written back in Anthropic's shapes: a `message`, its SSE event
sequence, or `{"type": "error", "error": {...}}` with the status Anthropic would use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from aigw.auth.stage import authenticate_request
from aigw.pipeline import JSONResult, RequestContext, Result
from aigw.providers.anthropic import inbound
from aigw.providers.anthropic.errors import error_body, error_status
from aigw.server.request import new_context, read_json
from aigw.server.responses import SSE_HEADERS, gateway_headers, run
from aigw.server.state import REQUEST_ID, config, gateway
from aigw.types import GatewayError

log = logging.getLogger("aigw")


def error_response(e: GatewayError, request_id: str) -> web.Response:
    headers = e.response_headers()
    headers["X-Request-ID"] = request_id
    headers["request-id"] = request_id  # where Anthropic's SDKs look for it
    return web.json_response(error_body(e, request_id), status=error_status(e), headers=headers)


async def messages(request: web.Request) -> web.StreamResponse:
    rid = request[REQUEST_ID]
    try:
        try:
            body = await read_json(request)
        except web.HTTPException as e:  # 413 body too large, 408 slow client
            raise GatewayError(e.status, e.reason or "bad request") from None
        ctx = new_context(
            request, "messages", inbound.to_openai(body), stream=bool(body.get("stream"))
        )
        ctx.native = body  # for a deployment that speaks Anthropic's format itself
        if not ctx.stream:
            return await run(request, ctx, _as_message(request))
        return await _stream(request, ctx)
    except GatewayError as e:
        return error_response(e, rid)


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


def _as_message(request: web.Request) -> Any:
    chat = gateway(request).chat

    async def handler(ctx: RequestContext) -> Result:
        result = await chat(ctx)
        if isinstance(result, JSONResult):
            if result.native is not None:  # an Anthropic upstream's own message
                return JSONResult(inbound.native_message(result.native, ctx.model), result.status)
            return JSONResult(inbound.to_message(result.body, ctx.model), result.status)
        # A stream for a request that asked for none (a replayed cache entry): gather it.
        chunks = [c async for c in result.chunks]
        return JSONResult(inbound.to_message(_collect(chunks), ctx.model))

    return handler


def _collect(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage, cid = None, None, None
    for c in chunks:
        cid = cid or c.get("id")
        usage = c.get("usage") or usage
        for ch in c.get("choices") or []:
            d = ch.get("delta") or {}
            text.append(d.get("content") or "")
            for tc in d.get("tool_calls") or []:
                slot = calls.setdefault(
                    tc.get("index", 0), {"id": None, "function": {"name": "", "arguments": ""}}
                )
                slot["id"] = slot["id"] or tc.get("id")
                fn = tc.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            finish = ch.get("finish_reason") or finish
    message = {"content": "".join(text), "tool_calls": [calls[i] for i in sorted(calls)]}
    return {"id": cid, "choices": [{"message": message, "finish_reason": finish}], "usage": usage}


async def _stream(request: web.Request, ctx: RequestContext) -> web.StreamResponse:
    try:
        result = await gateway(request).chat(ctx)
    except GatewayError as e:
        ctx.status = e.status
        ctx.error_kind = ctx.error_kind or e.code or e.type
        await asyncio.shield(ctx.finish())
        raise
    except BaseException:
        ctx.status = 500
        await asyncio.shield(ctx.finish())
        raise
    events = inbound.MessageEvents(ctx.model)
    native = None  # an Anthropic upstream's own events, passed through
    if isinstance(result, JSONResult):
        chunks: Any = _aiter(inbound.completion_chunks(result.body))
    else:
        chunks, native = result.chunks, result.native
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **gateway_headers(ctx)})
    write_timeout = config(request).server.write_timeout
    try:
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                if native is not None:
                    out = inbound.native_events(native.take(), ctx.model)
                else:
                    out = b"".join(inbound.sse(name, data) for name, data in events.feed(chunk))
                if out:
                    async with asyncio.timeout(write_timeout):
                        await resp.write(out)
            if native is not None:
                await resp.write(inbound.native_events(native.take(), ctx.model))
            else:
                await resp.write(b"".join(inbound.sse(n, d) for n, d in events.close()))
            ctx.status = 200
        except GatewayError as e:
            # Mid-stream failure: Anthropic's `error` event, as its API sends one.
            ctx.status = e.status
            ctx.error_kind = e.code or e.type
            log.warning(
                "stream ended by upstream error",
                extra={"status": e.status, "error": ctx.error_kind},
            )
            await resp.write(inbound.sse("error", error_body(e, ctx.request_id)))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, TimeoutError):
        ctx.status = 499
        ctx.error_kind = "client_disconnected"
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        await asyncio.shield(ctx.finish())
    return resp


async def _aiter(items: list[dict[str, Any]]) -> Any:
    for item in items:
        yield item
