"""Reading the client's request: the body (bounded in size and time) and its context."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from aigw.pipeline import RequestContext
from aigw.server.inflate import inflate
from aigw.server.state import CTX, REQUEST_ID, config
from aigw.types import bad_request


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content.is_eof():
        raw = await request.read()  # already buffered (the usual small POST): no timer needed
    else:
        try:
            async with asyncio.timeout(config(request).server.read_timeout):
                raw = await request.read()  # raises 413 past server.max_body_bytes
        except TimeoutError:
            raise web.HTTPRequestTimeout() from None
    encoding = request.headers.get("Content-Encoding")
    if encoding is not None:
        raw = await inflate(raw, encoding, config(request).server.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return body


def new_context(
    request: web.Request, endpoint: str, body: dict[str, Any], stream: bool = False
) -> RequestContext:
    ctx = RequestContext(
        request_id=request[REQUEST_ID],
        endpoint=endpoint,
        body=body,
        headers=request.headers,
        model=body["model"],
        stream=stream,
    )
    request[CTX] = ctx
    return ctx
