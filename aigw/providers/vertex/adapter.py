"""Vertex AI (`type: vertex`): Gemini's content format on the regional endpoint,
`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
(and `:streamGenerateContent?alt=sse`), embeddings through `:predict`, and an OAuth bearer
token from google-auth on each request (token.py: cached, refreshed in a thread).
"""

from __future__ import annotations

from typing import Any

from aigw.config import ProviderConfig
from aigw.providers.base import UpstreamRequest
from aigw.providers.gemini import embeddings
from aigw.providers.gemini.adapter import GoogleAdapter, model_segment
from aigw.providers.vertex.settings import VertexSettings
from aigw.providers.vertex.token import AccessTokens


def vertex_settings(conf: ProviderConfig) -> VertexSettings:
    if isinstance(conf, VertexSettings):
        return conf
    return VertexSettings.model_validate(conf.model_dump())


class VertexAdapter(GoogleAdapter):
    type = "vertex"
    default_base_url = "https://us-central1-aiplatform.googleapis.com"
    default_models = (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-embedding-001",
        "text-embedding-005",
        "text-embedding-004",
    )

    def model_path(self, conf: ProviderConfig, model: str) -> str:
        s = vertex_settings(conf)
        return (
            f"/v1/projects/{s.project}/locations/{s.location}"
            f"/publishers/google/models/{model_segment(model)}"
        )

    def chat_path(self, conf: ProviderConfig, model: str, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.model_path(conf, model)}:{method}"

    def credentials(self, conf: ProviderConfig) -> AccessTokens:
        return AccessTokens(conf.name, vertex_settings(conf).credentials_file)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        return UpstreamRequest(
            f"{self.model_path(conf, model)}:predict",
            embeddings.vertex_embed_request(body),
            self.headers(conf),
        )

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return embeddings.vertex_embed_response(body, model, request, self.type)


adapter = VertexAdapter()
