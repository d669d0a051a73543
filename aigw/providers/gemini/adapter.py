"""The Gemini API (`type: gemini`): `POST /v1beta/models/{model}:generateContent`,
`:streamGenerateContent?alt=sse`, `:embedContent`, `:batchEmbedContents`, the API key in the
`x-goog-api-key` header (never in the URL, where a log could keep it).

`GoogleAdapter` is everything the Gemini API and Vertex AI share (the content format both
ways, streams, errors); Vertex's adapter (providers/vertex) differs only in paths, auth and
embeddings.
"""

from __future__ import annotations

import re
from typing import Any

from aigw.providers.base import Answer, UpstreamRequest, settings_as
from aigw.providers.gemini import embeddings
from aigw.providers.gemini.errors import error_from
from aigw.providers.gemini.request import to_gemini
from aigw.providers.gemini.response import GeminiStream, from_gemini
from aigw.providers.gemini.settings import GeminiSettings
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError, bad_request

# A model name as it may appear in a URL path: a client can ask for `gm/<anything>`, so
# nothing that could change the path (`?`, `#`, `..`, `%`) gets through.
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def model_segment(model: str) -> str:
    model = model.removeprefix("models/")  # Google's resource name of a model
    if not _MODEL.match(model) or ".." in model:
        raise bad_request(f"invalid model name {model!r} for this provider", "model")
    return model


class GoogleAdapter:
    name = "google"  # in error messages: which of the two answered
    passthrough = False

    def chat_path(self, conf: ProviderConfig, model: str, stream: bool) -> str:
        raise NotImplementedError

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        return UpstreamRequest(
            self.chat_path(conf, model, stream), to_gemini(body), self.headers(conf)
        )

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return from_gemini(body, model, self.name)

    def chat_stream(self, model: str) -> GeminiStream:
        return GeminiStream(model, self.name)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers, self.name)


class GeminiAdapter(GoogleAdapter):
    name = "gemini"

    def version(self, conf: ProviderConfig) -> str:
        return settings_as(conf, GeminiSettings).api_version

    def chat_path(self, conf: ProviderConfig, model: str, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/{self.version(conf)}/models/{model_segment(model)}:{method}"

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if conf.api_key:
            h["x-goog-api-key"] = conf.api_key
        h.update(conf.headers)
        return h

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        model = model_segment(model)
        method, out = embeddings.gemini_embed_request(body, model)
        path = f"/{self.version(conf)}/models/{model}:{method}"
        return UpstreamRequest(path, out, self.headers(conf))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer:
        return embeddings.gemini_embed_response(body, model, request, self.name)


adapter = GeminiAdapter()
