"""Mock servers for the vendors that speak OpenAI's API (the named presets): a real aiohttp
server per vendor on loopback, at the vendor's own path (`/openai/v1` for Groq, `/v1` for
Mistral, none for DeepSeek, ...), that checks the bearer key and refuses what the vendor
refuses, in the vendor's error shape (from its API docs):

- Groq: `logprobs`, `logit_bias`, `top_logprobs`, `messages[].name`, `n` > 1 -> 400; stream
  usage in `x_groq.usage`.
- Mistral: any field outside its request schema -> 422 `extra_forbidden`; `seed` is
  `random_seed`; streams end with usage unasked.
- DeepSeek: usage counts cached prompt tokens as `prompt_cache_hit_tokens`.
- xAI: `presence_penalty` / `frequency_penalty` -> 400 `{"code", "error"}` (reasoning models).
- Together, Fireworks, OpenRouter: OpenAI's rules.

Answers are OpenAI's documented bodies (tests/fixtures/openai/ for tool calls) with each
vendor's usage spelling.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.mock_providers import UPSTREAM_KEY, Call, fixture

PATHS = {
    "groq": "/openai/v1",
    "mistral": "/v1",
    "deepseek": "",
    "together": "/v1",
    "fireworks": "/inference/v1",
    "openrouter": "/api/v1",
    "xai": "/v1",
}
MISTRAL_FIELDS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "parallel_tool_calls",
    "safe_prompt",
    "prompt_mode",
}
TEXT = "Hello from the vendor."


def _usage(vendor: str, prompt: int, completion: int, cached: int) -> dict[str, Any]:
    u: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if vendor == "deepseek":
        u["prompt_cache_hit_tokens"] = cached
        u["prompt_cache_miss_tokens"] = prompt - cached
    elif cached:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return u


@dataclass
class MockVendor:
    vendor: str
    key: str = UPSTREAM_KEY
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.url + PATHS[self.vendor]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATHS[self.vendor] + "/chat/completions", self.chat)
        app.router.add_post(PATHS[self.vendor] + "/embeddings", self.embeddings)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def refusal(self, body: dict[str, Any]) -> web.Response | None:
        v = self.vendor
        if v == "groq":
            for k in ("logprobs", "logit_bias", "top_logprobs"):
                if k in body:
                    return _error(400, f"property '{k}' is unsupported", k)
            if any("name" in m for m in body.get("messages") or []):
                return _error(400, "'messages.0' : property 'name' is unsupported", "messages")
            if body.get("n", 1) != 1:
                return _error(400, "'n' : number must be at most 1", "n")
        if v == "mistral":
            extra = sorted(set(body) - MISTRAL_FIELDS)
            if extra:
                detail = [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", extra[0]],
                        "msg": "Extra inputs are not permitted",
                        "input": body[extra[0]],
                    }
                ]
                err = {
                    "object": "error",
                    "message": {"detail": detail},
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
                return web.json_response(err, status=422)
        if v == "xai":
            for k in ("presence_penalty", "frequency_penalty"):
                if k in body:
                    camel = "presencePenalty" if k == "presence_penalty" else "frequencyPenalty"
                    return web.json_response(
                        {
                            "code": "Client specified an invalid argument",
                            "error": f"Argument not supported on this model: {camel}",
                        },
                        status=400,
                    )
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.calls.append(Call(request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return _error(401, "Invalid API Key", None, "invalid_api_key")
        refused = self.refusal(body)
        if refused is not None:
            return refused
        tools = bool(body.get("tools")) and body["messages"][-1].get("role") != "tool"
        if not body.get("stream"):
            if tools:
                out = orjson.loads(fixture("openai", "tool_call.json"))
                out["usage"] = _usage(self.vendor, 66, 17, 0)
            else:
                out = {
                    "id": "chatcmpl-vendor-1",
                    "object": "chat.completion",
                    "created": 1733000000,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": TEXT},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(self.vendor, 30, 5, 16),
                }
            return web.json_response(out)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if tools:
            raw = fixture("openai", "tool_call.sse")
        else:
            raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in self.chunks(body))
            raw += b"data: [DONE]\n\n"
        for i in range(0, len(raw), 37):
            await resp.write(raw[i : i + 37])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    def chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        base = {
            "id": "chatcmpl-vendor-2",
            "object": "chat.completion.chunk",
            "created": 1733000000,
            "model": body["model"],
        }

        def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}

        out = [delta({"role": "assistant", "content": ""})]
        out += [delta({"content": w}) for w in ("Hello", " from", " the", " vendor.")]
        usage = _usage(self.vendor, 30, 5, 16)
        if self.vendor == "groq":  # usage in Groq's own field of the last chunk
            out.append({**delta({}, "stop"), "x_groq": {"id": "req_01", "usage": usage}})
        elif self.vendor == "mistral":  # usage on the finish chunk, always
            out.append({**delta({}, "stop"), "usage": usage})
        else:
            out.append(delta({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                out.append({**base, "choices": [], "usage": usage})
        return out

    async def embeddings(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.calls.append(Call(request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return _error(401, "Invalid API Key", None, "invalid_api_key")
        refused = self.refusal(body) if self.vendor != "mistral" else None
        if self.vendor == "mistral":
            extra = sorted(
                set(body)
                - {"model", "input", "encoding_format", "output_dimension", "output_dtype"}
            )
            if extra:
                return _error(422, f"{extra[0]}: Extra inputs are not permitted", extra[0])
        if refused is not None:
            return refused
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), -0.2, 0.3]}
            for i in range(len(inputs))
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)},
            }
        )


def _error(status: int, message: str, param: str | None, code: str | None = None) -> Any:
    err = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return web.json_response({"error": err}, status=status)
