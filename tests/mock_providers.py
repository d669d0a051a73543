"""Mock Anthropic and Cohere upstreams: real aiohttp servers on loopback replaying documented
bodies and event streams (the files under tests/fixtures/<provider>/).

The upstream model name picks the scenario (`claude-tools`, `command-length`, ...), so a
gateway config maps client-facing names to scenarios. Each server checks requests the way
the real API does (credentials, required fields, tool results that answer the previous
turn's tool calls) and answers a malformed one with the provider's own 400, so a translation
bug fails the end-to-end tests instead of passing unnoticed. Every call is recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"

UPSTREAM_KEY = "sk-upstream-secret"


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def fixture_json(provider: str, name: str) -> dict[str, Any]:
    return orjson.loads(fixture(provider, name))


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Invalid(Exception):
    """The request breaks the provider's rules: answered with its 400."""


@dataclass
class MockProvider:
    provider: str = ""
    key: str = UPSTREAM_KEY
    chunk_size: int = 53  # stream bodies are written in pieces that split events and lines
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError  # each provider's mock below declares its own API paths

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def read(self, request: web.Request) -> dict[str, Any]:
        body = orjson.loads(await request.read())
        self.calls.append(Call(request.path, dict(request.headers), body))
        return body

    def json_file(self, name: str, status: int = 200, headers: dict[str, str] | None = None):
        return web.Response(
            status=status,
            body=fixture(self.provider, name),
            content_type="application/json",
            headers=headers,
        )

    async def sse_file(self, request: web.Request, name: str) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream; charset=utf-8"}
        )
        await resp.prepare(request)
        raw = fixture(self.provider, name)
        for i in range(0, len(raw), self.chunk_size):
            await resp.write(raw[i : i + self.chunk_size])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp


# --- Anthropic -----------------------------------------------------------------------------

ANTHROPIC_SCENARIOS = {
    "claude-text": "text",
    "claude-tools": "tool_use",
    "claude-parallel": "parallel_tools",
    "claude-length": "max_tokens",
    "claude-overloaded": "error_overloaded",
    "claude-ratelimited": "error_rate_limit",
    "claude-invalid": "error_invalid_request",
    "claude-server-error": "error_api",
    "claude-stream-error": "stream_error",
    "claude-thinking": "thinking",
}
ANTHROPIC_ERROR_STATUS = {
    "error_overloaded": 529,
    "error_rate_limit": 429,
    "error_invalid_request": 400,
    "error_api": 500,
}


def _anthropic_error(status: int, type_: str, message: str) -> web.Response:
    body = {"type": "error", "error": {"type": type_, "message": message}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


ANTHROPIC_FIELDS = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
}


def check_cache_control(where: str, block: dict[str, Any]) -> None:
    """`cache_control` where Anthropic takes it: `{"type": "ephemeral"}`, ttl 5m or 1h."""
    cc = block.get("cache_control")
    if cc is None:
        return
    if (
        not isinstance(cc, dict)
        or cc.get("type") != "ephemeral"
        or set(cc) - {"type", "ttl"}
        or cc.get("ttl", "5m") not in ("5m", "1h")
    ):
        raise Invalid(f"{where}.cache_control: Input should be {{'type': 'ephemeral'}}")


def check_anthropic_extras(body: dict[str, Any]) -> None:
    """Top-level fields Anthropic knows (others: 'Extra inputs are not permitted'), and the
    shapes of thinking, top_k, metadata and every cache_control."""
    extra = sorted(set(body) - ANTHROPIC_FIELDS)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            raise Invalid("thinking.type: Input should be 'enabled' or 'disabled'")
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                raise Invalid("thinking.enabled.budget_tokens: Input should be >= 1024")
            if budget >= body.get("max_tokens", 0):
                raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise Invalid("top_k: Input should be a non-negative integer")
    meta = body.get("metadata")
    if meta is not None and (
        not isinstance(meta, dict)
        or set(meta) - {"user_id"}
        or not isinstance(meta.get("user_id", ""), str | None)
    ):
        raise Invalid("metadata: only user_id (a string) is permitted")
    system = body.get("system")
    for j, b in enumerate(system if isinstance(system, list) else []):
        check_cache_control(f"system.{j}", b)
    for i, m in enumerate(body.get("messages") or []):
        content = m.get("content") if isinstance(m, dict) else None
        for j, b in enumerate(content if isinstance(content, list) else []):
            if isinstance(b, dict):
                check_cache_control(f"messages.{i}.content.{j}", b)
    for i, t in enumerate(body.get("tools") or []):
        check_cache_control(f"tools.{i}", t)


def check_anthropic(body: dict[str, Any]) -> None:
    """The rules of Anthropic's Messages API that a translation can break."""
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    check_anthropic_extras(body)
    mt = body.get("max_tokens")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise Invalid("max_tokens: Field required")
    system = body.get("system")
    system_ok = system is None or isinstance(system, str)
    if not system_ok and (
        not isinstance(system, list)
        or any(
            not isinstance(b, dict) or b.get("type") != "text" or not b.get("text") for b in system
        )
    ):
        raise Invalid("system: Input should be a valid string or a list of text blocks")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("messages: Field required")
    pending: set[str] = set()  # tool_use ids the next user turn must answer
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise Invalid('messages: first message must use the "user" role')
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise Invalid(f"messages.{i}.content: Input should be a valid list")
        answered: set[str] = set()
        used: set[str] = set()
        for j, b in enumerate(blocks):
            kind = b.get("type")
            where = f"messages.{i}.content.{j}"
            if kind == "text":
                if not isinstance(b.get("text"), str) or (not b["text"] and len(blocks) > 1):
                    raise Invalid(f"{where}.text: text content blocks must be non-empty")
            elif kind == "image":
                src = b.get("source") or {}
                if src.get("type") == "base64":
                    if not src.get("media_type") or not src.get("data"):
                        raise Invalid(f"{where}.source: media_type and data are required")
                elif src.get("type") != "url" or not src.get("url"):
                    raise Invalid(f"{where}.source: invalid image source")
            elif kind == "tool_use":
                if role != "assistant":
                    raise Invalid(f"{where}: tool_use blocks belong to assistant turns")
                if not b.get("id") or not b.get("name") or not isinstance(b.get("input"), dict):
                    raise Invalid(f"{where}: tool_use needs id, name and an object input")
                used.add(b["id"])
            elif kind in ("thinking", "redacted_thinking"):
                if role != "assistant":
                    raise Invalid(f"{where}: thinking blocks belong to assistant turns")
            elif kind == "tool_result":
                if role != "user":
                    raise Invalid(f"{where}: tool_result blocks belong to user turns")
                if b.get("tool_use_id") not in pending:
                    raise Invalid(
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{b.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
                answered.add(b["tool_use_id"])
            else:
                raise Invalid(f"{where}.type: unknown content block type {kind!r}")
        if pending and pending - answered:
            raise Invalid(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(pending - answered))}"
            )
        pending = used
    for t in body.get("tools") or []:
        if not t.get("name") or not isinstance(t.get("input_schema"), dict):
            raise Invalid("tools: each tool needs a name and an input_schema")
    tc = body.get("tool_choice")
    if tc is not None and tc.get("type") not in ("auto", "any", "tool", "none"):
        raise Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")


def _last_turn_has_tool_results(body: dict[str, Any]) -> bool:
    last = body["messages"][-1]
    content = last.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


@dataclass
class MockAnthropic(MockProvider):
    provider: str = "anthropic"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    async def count_tokens(self, request: web.Request) -> web.Response:
        """Anthropic's token counting: `{"input_tokens": N}`; it takes no max_tokens or
        stream (the API answers 400 to extra fields)."""
        body = await self.read(request)
        if request.headers.get("x-api-key") != self.key:
            return self.json_file("error_authentication.json", 401)
        extra = sorted(
            set(body) - {"model", "messages", "system", "tools", "tool_choice", "thinking"}
        )
        if extra:
            return _anthropic_error(
                400, "invalid_request_error", f"{extra[0]}: Extra inputs are not permitted"
            )
        if body.get("model") not in ANTHROPIC_SCENARIOS:
            return self.json_file("error_not_found.json", 404)
        # A count of its own (words, not characters): the gateway must pass it on, not guess.
        words = sum(len(str(m.get("content")).split()) for m in body.get("messages") or ())
        return web.json_response({"input_tokens": 1000 + words})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.read(request)
        if request.headers.get("x-api-key") != self.key:
            return self.json_file("error_authentication.json", 401)
        if not request.headers.get("anthropic-version"):
            return _anthropic_error(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        try:
            check_anthropic(body)
        except Invalid as e:
            return _anthropic_error(400, "invalid_request_error", str(e))
        scenario = ANTHROPIC_SCENARIOS.get(body["model"])
        if scenario is None:
            return self.json_file("error_not_found.json", 404)
        if scenario in ANTHROPIC_ERROR_STATUS:
            status = ANTHROPIC_ERROR_STATUS[scenario]
            headers = {"retry-after": "7"} if status == 429 else None
            return self.json_file(f"{scenario}.json", status, headers)
        if scenario in ("tool_use", "parallel_tools") and _last_turn_has_tool_results(body):
            scenario = "tool_answer"
        if body.get("stream"):
            return await self.sse_file(request, f"{scenario}.sse")
        if scenario == "stream_error":
            return self.json_file("error_api.json", 500)
        return self.json_file(f"{scenario}.json")


# --- Cohere --------------------------------------------------------------------------------

COHERE_SCENARIOS = {
    "command-text": "text",
    "command-tools": "tool_call",
    "command-parallel": "parallel_tools",
    "command-length": "max_tokens",
    "command-ratelimited": "error_rate_limit",
    "command-invalid": "error_invalid_request",
    "command-server-error": "error_server",
}
COHERE_ERROR_STATUS = {"error_rate_limit": 429, "error_invalid_request": 400, "error_server": 500}
COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")


def _cohere_error(status: int, message: str) -> web.Response:
    body = {"id": "00000000-0000-4000-8000-000000000000", "message": message}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def check_cohere_chat(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str):
        raise Invalid("invalid request: model must be specified")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("invalid request: messages must not be empty")
    known_calls: set[str] = set()
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise Invalid(f"invalid request: messages[{i}].role {role!r} is not supported")
        if role == "assistant":
            for c in m.get("tool_calls") or []:
                fn = c.get("function") or {}
                if (
                    not c.get("id")
                    or not fn.get("name")
                    or not isinstance(fn.get("arguments"), str)
                ):
                    raise Invalid(f"invalid request: messages[{i}].tool_calls are malformed")
                known_calls.add(c["id"])
            if not m.get("tool_calls") and not m.get("content"):
                raise Invalid(f"invalid request: messages[{i}] needs content or tool_calls")
        if role == "tool":
            if m.get("tool_call_id") not in known_calls:
                raise Invalid(
                    f"invalid request: messages[{i}].tool_call_id does not match a tool call"
                )
            if not isinstance(m.get("content"), str | list):
                raise Invalid(f"invalid request: messages[{i}].content is required")
        if role in ("user", "system"):
            c = m.get("content")
            if not isinstance(c, str | list):
                raise Invalid(f"invalid request: messages[{i}].content is required")
    for t in body.get("tools") or []:
        if t.get("type") != "function" or not (t.get("function") or {}).get("name"):
            raise Invalid("invalid request: tools must be of type function with a name")
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        raise Invalid("invalid request: tool_choice must be REQUIRED or NONE")
    if "top_p" in body or "stop" in body:
        raise Invalid("invalid request: unknown field (use p and stop_sequences)")


def fake_vector(text: str, dims: int = 8) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    return [round(rng.uniform(-1, 1), 6) for _ in range(dims)]


@dataclass
class MockCohere(MockProvider):
    provider: str = "cohere"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/chat", self.chat)
        app.router.add_post("/v2/embed", self.embed)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.key}"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.read(request)
        if not self._authorised(request):
            return self.json_file("error_unauthorized.json", 401)
        try:
            check_cohere_chat(body)
        except Invalid as e:
            return _cohere_error(400, str(e))
        scenario = COHERE_SCENARIOS.get(body["model"])
        if scenario is None:
            return _cohere_error(
                404,
                f"model '{body['model']}' not found, make sure the correct model ID was used and that you have access to the model.",
            )
        if scenario in COHERE_ERROR_STATUS:
            return self.json_file(f"{scenario}.json", COHERE_ERROR_STATUS[scenario])
        if scenario in ("tool_call", "parallel_tools") and body["messages"][-1]["role"] == "tool":
            scenario = "tool_answer"
        if body.get("stream"):
            return await self.sse_file(request, f"{scenario}.sse")
        return self.json_file(f"{scenario}.json")

    async def embed(self, request: web.Request) -> web.StreamResponse:
        body = await self.read(request)
        if not self._authorised(request):
            return self.json_file("error_unauthorized.json", 401)
        texts = body.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return _cohere_error(400, "invalid request: texts must be a list of strings")
        if body.get("input_type") not in COHERE_INPUT_TYPES:
            return _cohere_error(
                400, "invalid request: valid input_type must be provided with the provided model"
            )
        if body.get("embedding_types") != ["float"]:
            return _cohere_error(400, "invalid request: embedding_types must be ['float'] here")
        doc = fixture_json("cohere", "embed.json")
        if texts == doc["texts"]:
            return self.json_file("embed.json")
        # Other inputs: the documented envelope around vectors made from the texts.
        doc["texts"] = texts
        doc["embeddings"] = {"float": [fake_vector(t) for t in texts]}
        doc["meta"]["billed_units"]["input_tokens"] = sum(len(t.split()) for t in texts)
        return web.Response(body=orjson.dumps(doc), content_type="application/json")


# --- OpenAI with tools ---------------------------------------------------------------------


def check_openai_chat(body: dict[str, Any]) -> None:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("[] is too short - 'messages'")
    calls: set[str] = set()
    for i, m in enumerate(msgs):
        if m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise Invalid(f"Invalid value for 'messages[{i}].role'")
        for c in m.get("tool_calls") or []:
            calls.add(c.get("id"))
        if m.get("role") == "tool" and m.get("tool_call_id") not in calls:
            raise Invalid(
                f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                f"message with 'tool_calls' (messages[{i}])."
            )


@dataclass
class MockOpenAITools(MockProvider):
    """An OpenAI-format upstream that calls `get_weather` when offered tools, then answers
    the tool's result (documented `chat.completion` bodies and chunk streams)."""

    provider: str = "openai"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.read(request)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        try:
            check_openai_chat(body)
        except Invalid as e:
            err = {
                "message": str(e),
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
            return web.json_response({"error": err}, status=400)
        name = "tool_answer" if body["messages"][-1]["role"] == "tool" else "tool_call"
        if not body.get("stream"):
            return self.json_file(f"{name}.json")
        if not (body.get("stream_options") or {}).get("include_usage"):
            raise AssertionError("the gateway always asks for usage")
        return await self.sse_file(request, f"{name}.sse")
