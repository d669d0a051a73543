"""OpenAI's Responses API in front of every configured model.

POST /v1/responses runs the gateway's one pipeline (auth, the conversation stage, cost
router, limits, budgets, cache, routing and failover) on the request's chat translation, or
sends an OpenAI upstream the request itself; GET and DELETE /v1/responses/{id} and
GET /v1/responses/{id}/input_items read the gateway's own store, within the caller's
organisation (another organisation's id is a 404)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aigw.auth.stage import authenticate_request
from aigw.responses.request import check
from aigw.responses.turn import Turn, input_items
from aigw.server.framing.responses import RESPONSES
from aigw.server.middleware import json_response
from aigw.server.request import new_context, read_json
from aigw.server.state import REQUEST_ID, gateway
from aigw.server.writer import run
from aigw.types import bad_request


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    turn = Turn(body, needs_openai=check(body))
    turn.input = input_items(body["input"])
    ctx = new_context(request, "responses", body, stream=bool(body.get("stream")))
    ctx.turn = turn
    return await run(request, ctx, gateway(request).responses, RESPONSES)


async def _org(request: web.Request) -> str:
    principal = await authenticate_request(request)
    gateway(request).accounts.auth.authorize(principal, "responses", None)
    return principal.org_id


def _headers(request: web.Request) -> dict[str, str]:
    return {"X-Request-ID": request[REQUEST_ID]}


async def retrieve(request: web.Request) -> web.Response:
    org = await _org(request)
    stored = await gateway(request).conversations.store.get(org, request.match_info["id"])
    return json_response(stored.response, headers=_headers(request))


async def delete(request: web.Request) -> web.Response:
    org = await _org(request)
    rid = request.match_info["id"]
    await gateway(request).conversations.store.delete(org, rid)
    return json_response(
        {"id": rid, "object": "response", "deleted": True}, headers=_headers(request)
    )


async def list_input_items(request: web.Request) -> web.Response:
    q = request.query
    try:
        limit = int(q.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise bad_request("'limit' must be an integer between 1 and 100", "limit")
    order = q.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("'order' must be 'asc' or 'desc'", "order")
    org = await _org(request)
    stored = await gateway(request).conversations.store.get(org, request.match_info["id"])
    items: list[dict[str, Any]] = list(stored.input)
    if order == "desc":
        items.reverse()
    after = q.get("after")
    if after is not None:
        ids = [i.get("id") for i in items]
        if after not in ids:
            raise bad_request(f"No input item with id '{after[:64]}' in this response.", "after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    data = {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(items) > limit,
    }
    return json_response(data, headers=_headers(request))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{id}", retrieve)
    app.router.add_delete("/v1/responses/{id}", delete)
    app.router.add_get("/v1/responses/{id}/input_items", list_input_items)
