"""AWS Bedrock: chat through Converse / ConverseStream, embeddings through InvokeModel, every
request SigV4-signed with botocore (see converse.py, stream.py, embeddings.py, sigv4.py)."""

from __future__ import annotations

from typing import Any

from botocore.utils import percent_encode

from aigw.config import ProviderConfig
from aigw.providers.base import UpstreamRequest
from aigw.providers.bedrock.converse import from_converse, to_converse
from aigw.providers.bedrock.embeddings import from_invoke, to_invoke
from aigw.providers.bedrock.errors import error_from
from aigw.providers.bedrock.sigv4 import SigV4Signer
from aigw.providers.bedrock.stream import ConverseStream, EventStreamDecoder
from aigw.types import GatewayError

JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"


def model_path(model: str, operation: str) -> str:
    """`/model/{modelId}/{operation}` with the id percent-encoded as AWS's SDKs send it
    (`anthropic.claude-3-5-haiku-20241022-v1:0` -> `...-v1%3A0`; an ARN's `/` -> `%2F`)."""
    return f"/model/{percent_encode(model)}/{operation}"


class BedrockAdapter:
    type = "bedrock"
    default_base_url = "https://bedrock-runtime.{region}.amazonaws.com"
    default_models = (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "amazon.nova-pro-v1:0",
        "amazon.nova-lite-v1:0",
        "amazon.titan-embed-text-v2:0",
    )
    passthrough = False
    stream_decoder = EventStreamDecoder

    def credentials(self, conf: ProviderConfig) -> SigV4Signer:
        assert conf.region, "the config loader fills a bedrock provider's region"
        return SigV4Signer(conf.region, conf.profile)

    def headers(self, conf: ProviderConfig, accept: str = JSON) -> dict[str, str]:
        return {"Content-Type": JSON, "Accept": accept, **conf.headers}

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        out = to_converse(body)
        if stream:
            return UpstreamRequest(
                model_path(model, "converse-stream"), out, self.headers(conf, EVENT_STREAM)
            )
        return UpstreamRequest(model_path(model, "converse"), out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return from_converse(body, model)

    def chat_stream(self, model: str) -> ConverseStream:
        return ConverseStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        return UpstreamRequest(
            model_path(model, "invoke"), to_invoke(body, model), self.headers(conf)
        )

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return from_invoke(body, model, request)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = BedrockAdapter()
