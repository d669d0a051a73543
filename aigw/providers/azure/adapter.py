"""The Azure OpenAI adapter: OpenAI's format at Azure's addresses, with Azure's credentials
and content-filter annotations.

Two URL styles: with `api_version`, `/openai/deployments/{deployment}/chat/completions?
api-version=...` (the deployment in the path); without, the v1 API `/openai/v1/chat/
completions` (the deployment as `model`). Either way the deployment's `model` in aigw's
config is the Azure deployment name. Credentials: the `api-key` header, or an Entra ID
access token as a bearer token. JSON answers pass through unchanged (with their
`prompt_filter_results` / `content_filter_results`); streams are cleaned of Azure's
annotation chunks (stream.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aigw.providers.azure.settings import AzureSettings
from aigw.providers.azure.stream import AzureStream
from aigw.providers.base import Answer, UpstreamRequest, settings_as
from aigw.providers.common.errors import fallback_message, json_object, upstream_status_error
from aigw.providers.openai.adapter import (
    ask_stream_usage,
    chat_answer,
    embeddings_answer,
)
from aigw.providers.openai.adapter import error_from as openai_error
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """Azure's errors are OpenAI's shape (a content-filter refusal is a 400 with code
    `content_filter`, param `prompt`, not retryable); the gateway in front of it (API
    Management, Entra ID) answers `{"statusCode", "message"}` instead."""
    parsed = json_object(body)
    if parsed is not None and "error" not in parsed and "statusCode" in parsed:
        message = str(parsed.get("message") or fallback_message(status, b""))
        return upstream_status_error(status, message, headers, "azure")
    return openai_error(status, body, headers, "azure")


class AzureAdapter:
    passthrough = True

    def headers(self, s: AzureSettings) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if s.ad_token:
            h["Authorization"] = f"Bearer {s.ad_token}"
        elif s.api_key:
            h["api-key"] = s.api_key
        h.update(s.headers)
        return h

    def _request(
        self, conf: ProviderConfig, operation: str, body: dict[str, Any], deployment: str
    ) -> UpstreamRequest:
        s = settings_as(conf, AzureSettings)
        out = dict(body)
        out["model"] = deployment
        if s.api_version:
            path = (
                f"/openai/deployments/{quote(deployment, safe='')}/{operation}"
                f"?api-version={quote(s.api_version, safe='')}"
            )
        else:
            path = f"/openai/v1/{operation}"
        return UpstreamRequest(path, out, self.headers(s))

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        req = self._request(conf, "chat/completions", body, model)
        out = req.body
        if stream and settings_as(conf, AzureSettings).stream_usage:
            ask_stream_usage(out)
        elif stream:
            out.pop("stream_options", None)  # older API versions refuse the field
        return req

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return chat_answer(body)

    def chat_stream(self, model: str) -> AzureStream:
        return AzureStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        return self._request(conf, "embeddings", body, model)

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer:
        return embeddings_answer(body)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = AzureAdapter()
