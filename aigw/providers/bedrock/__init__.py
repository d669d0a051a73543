"""AWS Bedrock: every chat model through Converse / ConverseStream (the stream in AWS's
binary event-stream framing), Titan and Cohere embeddings through InvokeModel, SigV4 with
botocore's signer and AWS's standard credential chain."""

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec
from aigw.providers.bedrock.adapter import adapter, credentials
from aigw.providers.bedrock.eventstream import EventStreamDecoder
from aigw.providers.bedrock.settings import BASE_URL, BedrockSettings, from_env

spec = ProviderSpec(
    type="bedrock",
    default_base_url=BASE_URL,  # `{region}` filled by BedrockSettings
    adapter=adapter,
    settings=BedrockSettings,
    capabilities=frozenset({CHAT, EMBEDDINGS}),
    default_models=(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "amazon.nova-pro-v1:0",
        "amazon.nova-lite-v1:0",
        "amazon.nova-micro-v1:0",
        "amazon.titan-embed-text-v2:0",
        "cohere.embed-english-v3",
    ),
    credentials=credentials,
    stream_decoder=EventStreamDecoder,
    from_env=from_env,
)
