"""The Bedrock adapter: chat through Converse / ConverseStream (converse.py, stream.py),
embeddings through InvokeModel (embeddings.py), every request SigV4-signed (sigv4.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aigw.providers.base import Answer, UpstreamRequest, settings_as
from aigw.providers.bedrock.converse import from_converse, to_converse
from aigw.providers.bedrock.embeddings import from_invoke, to_invoke
from aigw.providers.bedrock.errors import error_from
from aigw.providers.bedrock.settings import BedrockSettings
from aigw.providers.bedrock.stream import ConverseStream
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError

if TYPE_CHECKING:
    from aigw.providers.bedrock.sigv4 import SigV4Signer

JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"


def model_path(model: str, operation: str) -> str:
    """`/model/{modelId}/{operation}` with the id percent-encoded as AWS's SDKs send it
    (`anthropic.claude-3-5-haiku-20241022-v1:0` -> `...-v1%3A0`; an ARN's `/` -> `%2F`)."""
    return f"/model/{quote(model, safe='')}/{operation}"


def credentials(conf: ProviderConfig) -> SigV4Signer:
    """The provider's signer (the spec's `credentials`): made once by the HTTP client."""
    from aigw.providers.bedrock.sigv4 import SigV4Signer  # botocore: only when used

    s = settings_as(conf, BedrockSettings)
    assert s.region  # the settings model fills it or refuses the config
    return SigV4Signer(s.region, s.profile)


class BedrockAdapter:
    passthrough = False

    def headers(self, conf: ProviderConfig, accept: str = JSON) -> dict[str, str]:
        return {"Content-Type": JSON, "Accept": accept, **conf.headers}

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        out = to_converse(body, model)
        if stream:
            return UpstreamRequest(
                model_path(model, "converse-stream"), out, self.headers(conf, EVENT_STREAM)
            )
        return UpstreamRequest(model_path(model, "converse"), out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
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
    ) -> Answer:
        return from_invoke(body, model, request)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = BedrockAdapter()
