"""Around every request: the request id, OpenAI-shaped errors, and the access log line."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import orjson
from aiohttp import web

from aigw.ids import hex_id
from aigw.observability.logging import access, request_id_var, write_access
from aigw.server.framing.openai import OPENAI
from aigw.server.state import CTX, FRAMING, GATEWAY, REQUEST_ID
from aigw.types import GatewayError

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

log = logging.getLogger("aigw")


def new_request_id(given: str | None) -> str:
    if given and _VALID_ID.match(given):
        return given
    return "req_" + hex_id(16)


_HTTP_ERRORS = {
    404: ("Unknown path. See docs/API.md for the endpoints.", "invalid_request_error", "not_found"),
    405: ("Method not allowed on this path.", "invalid_request_error", "method_not_allowed"),
    413: (None, "invalid_request_error", "request_too_large"),
}


@web.middleware
async def request_context(request: web.Request, handler: Any) -> web.StreamResponse:
    rid = new_request_id(request.headers.get("X-Request-ID"))
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    t0 = time.perf_counter()
    status = 500
    metrics = request.app[GATEWAY].observability.metrics
    if metrics is not None:
        metrics.request_started()
    try:
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            resp = _error_response(request, rid, _http_error(request, e))
        except GatewayError as e:
            resp = _error_response(request, rid, e)
        except Exception:
            log.exception("unhandled error")
            resp = _error_response(
                request,
                rid,
                GatewayError(500, "Internal error in the gateway.", "api_error", "internal_error"),
            )
        if not resp.prepared:
            resp.headers["X-Request-ID"] = rid
        status = resp.status
        return resp
    finally:
        ctx = request.get(CTX)
        if ctx is not None and ctx.status:
            status = ctx.status
        if metrics is not None:
            metrics.request_finished(request, status, time.perf_counter() - t0, ctx)
        if access.isEnabledFor(logging.INFO):
            _access_line(request, status, t0, ctx)
        request_id_var.reset(token)


def _error_response(request: web.Request, rid: str, e: GatewayError) -> web.Response:
    """The one place an error becomes a response: in the framing of the route that failed
    (OpenAI's error shape unless the route set another, e.g. Anthropic's on /v1/messages)."""
    return request.get(FRAMING, OPENAI).error(e, rid)


def _http_error(request: web.Request, e: web.HTTPException) -> GatewayError:
    msg, type_, code = _HTTP_ERRORS.get(e.status, (None, "invalid_request_error", None))
    if e.status == 413:
        msg = (
            f"Request body too large: the limit is {request.app._client_max_size} "
            "bytes (server.max_body_bytes)."
        )
    return GatewayError(e.status, msg or e.reason, type_, code)


def _access_line(request: web.Request, status: int, t0: float, ctx: Any) -> None:
    fields: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "latency_ms": round((time.perf_counter() - t0) * 1000, 3),
    }
    if ctx is not None:
        fields["model"] = ctx.model
        if ctx.provider:
            fields["provider"] = ctx.provider
            fields["deployment"] = ctx.deployment
        if ctx.upstream_ms is not None:
            fields["upstream_ms"] = round(ctx.upstream_ms, 3)
        if ctx.ttfb_ms is not None:
            fields["ttfb_ms"] = round(ctx.ttfb_ms, 3)
        if ctx.stream:
            fields["stream"] = True
        if ctx.attempts > 1:
            fields["attempts"] = ctx.attempts
        if ctx.usage is not None:
            fields["prompt_tokens"] = ctx.usage.prompt_tokens
            fields["completion_tokens"] = ctx.usage.completion_tokens
        if ctx.cache:
            fields["cache"] = ctx.cache
        if ctx.principal.key_id:
            fields["key_id"] = ctx.principal.key_id
            fields["org"] = ctx.principal.org_id
        if ctx.error_kind:
            fields["error"] = ctx.error_kind
        fields.update(ctx.extra_log)
    write_access(fields)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )
