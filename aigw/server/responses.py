"""Writing a pipeline result to the client: JSON, or Server-Sent Events flushed per chunk."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import Handler, JSONResult, RequestContext
from aigw.server.state import config, gateway
from aigw.types import GatewayError

log = logging.getLogger("aigw")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
}
DONE = b"data: [DONE]\n\n"
# Below this many unsent bytes a write returns at once (aiohttp drains above 64 KiB), so
# only writes past it need the write timeout.
WRITE_HIGH_WATER = 32 * 1024


def gateway_headers(ctx: RequestContext) -> dict[str, str]:
    h = {"X-Request-ID": ctx.request_id}
    if ctx.attempts:
        h["x-aigw-attempts"] = str(ctx.attempts)
    if ctx.upstream_ms is not None and not ctx.stream:
        h["x-aigw-upstream-ms"] = f"{ctx.upstream_ms:.3f}"
    if ctx.ttfb_ms is not None:
        h["x-aigw-upstream-ttfb-ms"] = f"{ctx.ttfb_ms:.3f}"
    if ctx.deployment:
        h["x-aigw-deployment"] = ctx.deployment
    if ctx.cache:
        h["x-aigw-cache"] = ctx.cache
    h.update(ctx.response_headers)
    return h


async def run(request: web.Request, ctx: RequestContext, handler: Handler) -> web.StreamResponse:
    """Run the pipeline and send its answer. The finish callbacks run exactly once, after the
    answer or the error has been sent, shielded: a client that disconnects must not cancel
    usage bookkeeping or the settling of reservations."""
    try:
        result = await handler(ctx)
    except GatewayError as e:
        ctx.status = e.status
        ctx.error_kind = ctx.error_kind or e.code or e.type
        gateway(request).spawn(ctx.finish())
        raise
    except BaseException:
        ctx.status = ctx.status or 500
        gateway(request).spawn(ctx.finish())
        raise
    if isinstance(result, JSONResult):
        # aiohttp writes the returned response (headers and body in one write) as soon as
        # the handler returns; the finish callbacks run right after, off the answer's path.
        body = result.raw if result.raw is not None else orjson.dumps(result.body)
        ctx.status = result.status
        gateway(request).spawn(ctx.finish())
        return web.Response(
            status=result.status,
            body=body,
            content_type="application/json",
            headers=gateway_headers(ctx),
        )
    try:
        return await _stream(request, ctx, result.chunks)
    finally:
        await asyncio.shield(ctx.finish())


async def _stream(request: web.Request, ctx: RequestContext, chunks: Any) -> web.StreamResponse:
    headers = {**SSE_HEADERS, **gateway_headers(ctx)}
    resp = web.StreamResponse(status=200, headers=headers)
    want_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
    write_timeout = config(request).server.write_timeout
    transport = request.transport
    try:
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                if not want_usage and "usage" in chunk:
                    if not chunk.get("choices"):
                        continue  # the usage-only chunk the gateway asked for itself
                    chunk = {k: v for k, v in chunk.items() if k != "usage"}
                data = b"data: " + orjson.dumps(chunk) + b"\n\n"
                if transport is not None and transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    # The client is not keeping up: this write will wait for it, boundedly.
                    async with asyncio.timeout(write_timeout):
                        await resp.write(data)
                else:
                    await resp.write(data)
            await resp.write(DONE)
            ctx.status = 200
        except GatewayError as e:
            # Mid-stream failure: the client sees an error event, as OpenAI sends one.
            ctx.status = e.status
            ctx.error_kind = e.code or e.type
            log.warning(
                "stream ended by upstream error",
                extra={"status": e.status, "error": ctx.error_kind},
            )
            await resp.write(b"data: " + e.to_json() + b"\n\n")
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, TimeoutError):
        ctx.status = 499  # client closed the connection (or stopped reading)
        ctx.error_kind = "client_disconnected"
        raise
    finally:
        await chunks.aclose()
    return resp
