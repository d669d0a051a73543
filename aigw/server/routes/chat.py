"""POST /v1/chat/completions: parse and check the request, run the pipeline, write the answer."""

from __future__ import annotations

from aiohttp import web

from aigw.server.request import new_context, read_json
from aigw.server.state import gateway
from aigw.server.writer import run
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
        content = m.get("content")
        if not (content is None or isinstance(content, str) or _parts(content)):
            raise bad_request(
                f"messages[{i}].content must be a string or an array of content parts, "
                "each an object with a string 'type'",
                f"messages[{i}].content",
            )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("'stream' must be a boolean", "stream")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    # The gateway reserves max_tokens x n against limits and budgets: bound them as OpenAI does.
    for name in ("max_tokens", "max_completion_tokens"):
        v = body.get(name)
        if v is not None and not _int_in(v, 1, MAX_TOKENS):
            raise bad_request(f"'{name}' must be an integer from 1 to {MAX_TOKENS}", name)
    n = body.get("n")
    if n is not None and not _int_in(n, 1, 128):
        raise bad_request("'n' must be an integer from 1 to 128", "n")


MAX_TOKENS = 2**31 - 1


def _parts(content: object) -> bool:
    return isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
    )


def _int_in(v: object, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_chat(body)
    ctx = new_context(request, "chat", body, stream=bool(body.get("stream")))
    return await run(request, ctx, gateway(request).chat)
