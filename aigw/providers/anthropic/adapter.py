"""The Anthropic adapter: chat translated (request.py, response.py, stream.py), and a
/v1/messages client's own request passed through (the MESSAGES capability), with its
`count_tokens`."""

from __future__ import annotations

from typing import Any

from aigw.providers.anthropic.errors import error_from
from aigw.providers.anthropic.request import to_anthropic
from aigw.providers.anthropic.response import from_anthropic
from aigw.providers.anthropic.settings import AnthropicSettings
from aigw.providers.anthropic.stream import AnthropicStream
from aigw.providers.base import Answer, UpstreamRequest, settings_as
from aigw.providers.common.errors import no_embeddings
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError


class AnthropicAdapter:
    passthrough = False

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        s = settings_as(conf, AnthropicSettings)
        h = {"Content-Type": "application/json", "anthropic-version": s.api_version}
        if conf.api_key:
            h["x-api-key"] = conf.api_key
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        s = settings_as(conf, AnthropicSettings)
        out = to_anthropic(body, model, s.default_max_tokens)
        if stream:
            out["stream"] = True
        return UpstreamRequest("/v1/messages", out, self.headers(conf))

    def messages_request(
        self,
        conf: ProviderConfig,
        native: dict[str, Any],
        body: dict[str, Any],
        model: str,
        stream: bool,
    ) -> UpstreamRequest:
        """A /v1/messages client's own request, sent as it came (thinking, cache_control...):
        only the model (the deployment's) and max_tokens (which the gateway's stages may
        have lowered in the chat form) change."""
        out = {k: v for k, v in native.items() if k != "stream"}
        out["model"] = model
        out["max_tokens"] = body.get("max_tokens") or out.get("max_tokens")
        if stream:
            out["stream"] = True
        return UpstreamRequest("/v1/messages", out, self.headers(conf))

    def count_tokens_request(
        self, conf: ProviderConfig, native: dict[str, Any], model: str
    ) -> UpstreamRequest:
        out = {k: v for k, v in native.items() if k not in ("stream", "max_tokens")}
        out["model"] = model
        return UpstreamRequest("/v1/messages/count_tokens", out, self.headers(conf))

    def count_tokens_response(self, body: dict[str, Any]) -> int:
        n = body.get("input_tokens")
        if not isinstance(n, int) or isinstance(n, bool):
            raise GatewayError(
                502,
                "anthropic: count_tokens answer without input_tokens",
                "api_error",
                "bad_upstream_response",
            )
        return n

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return from_anthropic(body, model)

    def chat_stream(self, model: str) -> AnthropicStream:
        return AnthropicStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        raise no_embeddings("Anthropic", body.get("model"))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer:
        raise no_embeddings("Anthropic", model)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = AnthropicAdapter()
