"""POST /v1/chat/completions: parse and check the request, run the pipeline, write the answer."""

from __future__ import annotations

from aiohttp import web

from aigw.server.request import new_context, read_json
from aigw.server.responses import run
from aigw.server.state import gateway
from aigw.types import bad_request


def check_chat(body: dict) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", "model")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad_request("'messages' must be a non-empty array of message objects", "messages")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise bad_request(
                f"messages[{i}] must be an object with a string 'role'", f"messages[{i}]"
            )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("'stream' must be a boolean", "stream")
    # Limits and budgets reserve by the completion cap: a cap of the wrong type is a 400 here,
    # not a default reservation and an upstream error later.
    for name in ("max_tokens", "max_completion_tokens"):
        v = body.get(name)
        if v is not None and (type(v) is not int or v < 1):
            raise bad_request(f"'{name}' must be a positive integer", name)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_chat(body)
    ctx = new_context(request, "chat", body, stream=bool(body.get("stream")))
    return await run(request, ctx, gateway(request).chat)
