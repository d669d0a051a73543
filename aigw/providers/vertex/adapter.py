"""Vertex AI (`type: vertex`): Gemini's content format on the regional endpoint,
`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
(and `:streamGenerateContent?alt=sse`), embeddings through `:predict`, and an OAuth bearer
token from google-auth on each request (token.py: cached, refreshed in a thread).
"""

from __future__ import annotations

from typing import Any

from aigw.providers.base import Answer, UpstreamRequest, settings_as
from aigw.providers.gemini import embeddings
from aigw.providers.gemini.adapter import GoogleAdapter, model_segment
from aigw.providers.settings import ProviderConfig
from aigw.providers.vertex.settings import VertexSettings


class VertexAdapter(GoogleAdapter):
    name = "vertex"

    def model_path(self, conf: ProviderConfig, model: str) -> str:
        s = settings_as(conf, VertexSettings)
        return (
            f"/v1/projects/{s.project}/locations/{s.location}"
            f"/publishers/google/models/{model_segment(model)}"
        )

    def chat_path(self, conf: ProviderConfig, model: str, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.model_path(conf, model)}:{method}"

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
    ) -> Answer:
        return embeddings.vertex_embed_response(body, model, request, self.name)


adapter = VertexAdapter()
