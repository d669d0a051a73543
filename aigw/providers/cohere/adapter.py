"""The Cohere adapter: chat (chat.py, stream.py) and embeddings (embed.py) over its v2 API."""

from __future__ import annotations

from typing import Any

from aigw.providers.base import Answer, UpstreamRequest
from aigw.providers.cohere.chat import from_cohere, to_cohere
from aigw.providers.cohere.embed import from_cohere_embed, to_cohere_embed
from aigw.providers.cohere.errors import error_from
from aigw.providers.cohere.stream import CohereStream
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError


class CohereAdapter:
    passthrough = False

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if conf.api_key:
            h["Authorization"] = f"Bearer {conf.api_key}"
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        out = to_cohere(body, model)
        if stream:
            out["stream"] = True
        return UpstreamRequest("/v2/chat", out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return from_cohere(body, model)

    def chat_stream(self, model: str) -> CohereStream:
        return CohereStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        return UpstreamRequest("/v2/embed", to_cohere_embed(body, model), self.headers(conf))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer:
        return from_cohere_embed(body, model, request)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = CohereAdapter()
