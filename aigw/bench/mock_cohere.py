"""Cohere's v2 API, mocked for `aigw mock`: `POST /v2/chat` (a chat answer, or its event
stream: message-start, content-start/delta/end, message-end) and `POST /v2/embed`
(`embeddings_by_type`), as documented by Cohere. Any bearer token is accepted."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from aigw.bench.mock_upstream import DEFAULT_TEXT, count_tokens, fake_vector, prompt_text, words


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"id": str(uuid.uuid4()), "message": message}, status=status)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MockCohere:
    def __init__(self, text: str = DEFAULT_TEXT, dims: int = 8) -> None:
        self.text = text
        self.dims = dims

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/chat", self.chat)
        app.router.add_post("/v2/embed", self.embed)

    async def _read(self, request: web.Request) -> dict[str, Any] | web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "no api key supplied")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid request: the body is not valid JSON")
        if not isinstance(body, dict) or not body.get("model"):
            return _error(400, "invalid request: model must be specified")
        return body

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body.get("messages"), list):
            return _error(400, "invalid request: messages must be a list")
        tokens_in = count_tokens(prompt_text(body["messages"]))
        tokens_out = count_tokens(self.text)
        units = {"input_tokens": tokens_in, "output_tokens": tokens_out}
        usage = {"billed_units": units, "tokens": units}
        answer_id = str(uuid.uuid4())
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": answer_id,
                    "finish_reason": "COMPLETE",
                    "message": {
                        "role": "assistant",
                        "content": [{"type": "text", "text": self.text}],
                    },
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}
        await resp.write(
            _event(
                "message-start",
                {"id": answer_id, "type": "message-start", "delta": {"message": start}},
            )
        )
        first = {"message": {"content": {"type": "text", "text": ""}}}
        await resp.write(
            _event("content-start", {"type": "content-start", "index": 0, "delta": first})
        )
        for piece in words(self.text):
            delta = {"message": {"content": {"text": piece}}}
            await resp.write(
                _event("content-delta", {"type": "content-delta", "index": 0, "delta": delta})
            )
        await resp.write(_event("content-end", {"type": "content-end", "index": 0}))
        end = {"finish_reason": "COMPLETE", "usage": usage}
        await resp.write(_event("message-end", {"type": "message-end", "delta": end}))
        await resp.write_eof()
        return resp

    async def embed(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        texts = body.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _error(400, "invalid request: texts must be a list of strings")
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "embeddings": {"float": [fake_vector(t, self.dims) for t in texts]},
                "texts": texts,
                "meta": {
                    "api_version": {"version": "2"},
                    "billed_units": {"input_tokens": sum(count_tokens(t) for t in texts)},
                },
                "response_type": "embeddings_by_type",
            }
        )
