"""OpenAI and every OpenAI-compatible server (vLLM, Ollama /v1, LM Studio, llama.cpp).

The formats are the gateway's own, so translation is a pass-through: the upstream model name
is set, and streams always ask for usage so the gateway can count tokens.
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.base import Answer, UpstreamRequest
from aigw.providers.common.errors import (
    fallback_message,
    json_object,
    unreadable_event,
    upstream_status_error,
)
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError, Usage


class OpenAIStream:
    __slots__ = ("usage",)

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if data == b"[DONE]":
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise unreadable_event("upstream") from None
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and "choices" not in chunk:
            raise stream_error(chunk["error"])
        u = chunk.get("usage")
        if u:
            self.usage = Usage.from_openai(u)
        return [chunk]

    def close(self) -> list[dict[str, Any]]:
        return []


def stream_error(raw: Any) -> GatewayError:
    """An `{"error": ...}` event in the middle of a stream."""
    err = raw if isinstance(raw, dict) else {"message": str(raw)}
    return GatewayError(
        502,
        str(err.get("message") or "upstream stream error"),
        str(err.get("type") or "api_error"),
        str(err.get("code") or "upstream_error"),
    )


def error_from(status: int, body: bytes, headers: dict[str, str], provider: str) -> GatewayError:
    """OpenAI's `{"error": {message, type, param, code}}` (or a bare string, or a top-level
    `message` as some compatible servers send) -> the client's error."""
    message, type_, code, param = fallback_message(status, body), None, None, None
    parsed = json_object(body)
    if parsed is not None:
        message = f"upstream returned HTTP {status}"
        err = parsed.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            type_, code, param = err.get("type"), err.get("code"), err.get("param")
        elif isinstance(err, str):
            message = err
        elif parsed.get("message"):
            m = parsed["message"]
            message = m if isinstance(m, str) else orjson.dumps(m).decode()[:500]
    return upstream_status_error(
        status,
        message,
        headers,
        provider,
        type_ if isinstance(type_, str) else None,
        str(code) if code is not None else None,
        param if isinstance(param, str) else None,
    )


def ask_stream_usage(body: dict[str, Any]) -> None:
    """A stream request asks for the closing usage chunk, keeping the client's other
    `stream_options`."""
    opts = body.get("stream_options")
    opts = dict(opts) if isinstance(opts, dict) else {}
    opts["include_usage"] = True
    body["stream_options"] = opts


def chat_answer(body: dict[str, Any]) -> Answer:
    """A chat.completion, passed through, with its usage read."""
    u = body.get("usage")
    return Answer(body, Usage.from_openai(u) if isinstance(u, dict) else None)


def embeddings_answer(body: dict[str, Any]) -> Answer:
    """An embeddings list, passed through, with its prompt tokens read."""
    u = body.get("usage")
    tokens = u.get("prompt_tokens") if isinstance(u, dict) else None
    return Answer(body, Usage(prompt_tokens=int(tokens or 0)))


class OpenAIAdapter:
    passthrough = True
    name = "openai"

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if conf.api_key:
            h["Authorization"] = f"Bearer {conf.api_key}"
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        out = dict(body)
        out["model"] = model
        if stream:
            ask_stream_usage(out)
        return UpstreamRequest("/chat/completions", out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return chat_answer(body)

    def chat_stream(self, model: str) -> OpenAIStream:
        return OpenAIStream()

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        out = dict(body)
        out["model"] = model
        return UpstreamRequest("/embeddings", out, self.headers(conf))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer:
        return embeddings_answer(body)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers, self.name)


adapter = OpenAIAdapter()
