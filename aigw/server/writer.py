"""The one request lifecycle: run the pipeline, write its answer in the route's framing
(JSON, or Server-Sent Events flushed per chunk), and run the finish callbacks exactly once.

Errors raised here go up to the middleware, the one place where an error becomes a response
(in the request's framing, `state.FRAMING`); an error after a stream began is the framing's
error event. A client that disconnects cancels the handler: the stream's iterator is closed
(which closes the upstream connection) and the status is recorded as 499.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from multidict import istr

from aigw.cache.replay import chunks_to_completion, completion_to_chunks, replay
from aigw.pipeline import Handler, JSONResult, RequestContext, Result, StreamResult
from aigw.server.framing import Events, Framing
from aigw.server.framing.openai import OPENAI
from aigw.server.front import FrontAnswer, FrontRequest, FrontStream
from aigw.server.state import config, gateway
from aigw.types import GatewayError

log = logging.getLogger("aigw")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
}
# Below this many unsent bytes a write returns at once (aiohttp drains above 64 KiB), so
# only writes past it need the write timeout.
WRITE_HIGH_WATER = 32 * 1024


# The gateway's own headers on every answer, as `istr`s (see limits/headers.py: aiohttp
# takes their folded form as it is).
_REQUEST_ID = istr("X-Request-ID")
_ATTEMPTS = istr("x-aigw-attempts")
_UPSTREAM_MS = istr("x-aigw-upstream-ms")
_TTFB_MS = istr("x-aigw-upstream-ttfb-ms")
_DEPLOYMENT = istr("x-aigw-deployment")
_CACHE = istr("x-aigw-cache")
_CONTENT_TYPE = istr("Content-Type")


def gateway_headers(ctx: RequestContext) -> dict[str, str]:
    h: dict[str, str] = {_REQUEST_ID: ctx.request_id}
    if ctx.attempts:
        h[_ATTEMPTS] = str(ctx.attempts)
    if ctx.upstream_ms is not None and not ctx.stream:
        h[_UPSTREAM_MS] = f"{ctx.upstream_ms:.3f}"
    if ctx.ttfb_ms is not None:
        h[_TTFB_MS] = f"{ctx.ttfb_ms:.3f}"
    if ctx.deployment:
        h[_DEPLOYMENT] = ctx.deployment
    if ctx.cache:
        h[_CACHE] = ctx.cache
    h.update(ctx.response_headers)
    return h


async def run(
    request: web.Request, ctx: RequestContext, handler: Handler, framing: Framing = OPENAI
) -> web.StreamResponse:
    """Run the pipeline and send its answer. The finish callbacks run exactly once: for a
    JSON answer or an error as it is handed to aiohttp (`Gateway.spawn`), for a stream after
    its last chunk, shielded: a client that disconnects must not cancel usage bookkeeping or
    the settling of reservations."""
    gw = gateway(request)
    try:
        result: Result = await handler(ctx)
        if not ctx.stream and isinstance(result, StreamResult):
            # A stream for a request that asked for none: the answer it spells.
            result = JSONResult(chunks_to_completion([c async for c in result.chunks]))
    except GatewayError as e:
        ctx.status = e.status
        ctx.error_kind = ctx.error_kind or e.code or e.type
        gw.spawn(ctx.finish())
        raise
    except BaseException:
        ctx.status = ctx.status or 500
        gw.spawn(ctx.finish())
        raise
    if isinstance(result, JSONResult):
        if not ctx.stream or result.status != 200:
            # aiohttp writes the returned response (headers and body in one write) as soon
            # as the handler returns; the finish callbacks run right after, off its path.
            body = framing.answer(ctx, result)
            ctx.status = result.status
            gw.spawn(ctx.finish())
            headers = gateway_headers(ctx)
            if isinstance(request, FrontRequest):
                headers[_CONTENT_TYPE] = "application/json"
                return FrontAnswer(result.status, body, headers)
            return web.Response(
                status=result.status,
                body=body,
                content_type="application/json",
                headers=headers,
            )
        chunks: AsyncIterator[dict[str, Any]] = replay(completion_to_chunks(result.body))
        native = None
    else:
        chunks, native = result.chunks, result.native
    try:
        return await _stream(request, ctx, chunks, framing.events(ctx, native))
    finally:
        await asyncio.shield(ctx.finish())


async def _stream(
    request: web.Request,
    ctx: RequestContext,
    chunks: AsyncIterator[dict[str, Any]],
    events: Events,
) -> web.StreamResponse:
    headers = {**SSE_HEADERS, **gateway_headers(ctx)}
    resp: web.StreamResponse | FrontStream
    if isinstance(request, FrontRequest):
        resp = FrontStream(request, 200, headers)
    else:
        resp = web.StreamResponse(status=200, headers=headers)
    write_timeout = config(request).server.write_timeout
    transport = request.transport
    try:
        await resp.prepare(request)
        try:
            async for chunk in chunks:
                data = events.chunk(chunk)
                if not data:
                    continue
                if transport is not None and transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    # The client is not keeping up: this write will wait for it, boundedly.
                    async with asyncio.timeout(write_timeout):
                        await resp.write(data)
                else:
                    await resp.write(data)
            data = events.end()
            if data:
                await resp.write(data)
            ctx.status = 200
        except GatewayError as e:
            # Mid-stream failure: the client sees the protocol's error event.
            ctx.status = e.status
            ctx.error_kind = e.code or e.type
            log.warning(
                "stream ended by upstream error",
                extra={"status": e.status, "error": ctx.error_kind},
            )
            await resp.write(events.error(e))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, TimeoutError):
        ctx.status = 499  # client closed the connection (or stopped reading)
        ctx.error_kind = "client_disconnected"
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return resp
