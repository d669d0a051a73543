"""OpenAI and every OpenAI-compatible server (vLLM, Ollama /v1, LM Studio, llama.cpp).

The formats are the gateway's own, so translation is a pass-through: the upstream model name
is set, and streams always ask for usage so the gateway can count tokens.
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.config import ProviderConfig
from aigw.providers.base import UpstreamRequest, upstream_status_error
from aigw.providers.sse import SSEParser
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
            raise GatewayError(
                502,
                "upstream sent an unreadable stream event",
                "api_error",
                "bad_upstream_response",
            ) from None
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and "choices" not in chunk:
            err = (
                chunk["error"]
                if isinstance(chunk["error"], dict)
                else {"message": str(chunk["error"])}
            )
            raise GatewayError(
                502,
                str(err.get("message") or "upstream stream error"),
                err.get("type") or "api_error",
                err.get("code") or "upstream_error",
            )
        u = chunk.get("usage")
        if u:
            self.usage = Usage.from_openai(u)
        return [chunk]

    def close(self) -> list[dict[str, Any]]:
        return []


class OpenAIAdapter:
    type = "openai"
    default_base_url = "https://api.openai.com/v1"
    default_models = (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o4-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
    )
    passthrough = True
    stream_decoder = SSEParser

    def _headers(self, conf: ProviderConfig) -> dict[str, str]:
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
            opts = dict(out.get("stream_options") or {})
            opts["include_usage"] = True
            out["stream_options"] = opts
        return UpstreamRequest("/chat/completions", out, self._headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return body

    def chat_stream(self, model: str) -> OpenAIStream:
        return OpenAIStream()

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        out = dict(body)
        out["model"] = model
        return UpstreamRequest("/embeddings", out, self._headers(conf))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return body

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        message, type_, code, param = f"upstream returned HTTP {status}", None, None, None
        try:
            err = orjson.loads(body).get("error")
            if isinstance(err, dict):
                message = str(err.get("message") or message)
                type_, code, param = err.get("type"), err.get("code"), err.get("param")
            elif isinstance(err, str):
                message = err
        except (orjson.JSONDecodeError, AttributeError):
            if body:
                message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
        return upstream_status_error(
            status,
            message,
            headers,
            "openai",
            type_,
            str(code) if code is not None else None,
            param,
        )


adapter = OpenAIAdapter()
