"""Azure OpenAI: chat (JSON, stream, tools) and embeddings on an Azure OpenAI resource."""

from aigw.providers.azure.adapter import adapter
from aigw.providers.azure.settings import AzureSettings
from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec

spec = ProviderSpec(
    type="azure",
    default_base_url="",  # no default: each resource has its own endpoint
    adapter=adapter,
    key_env="AZURE_OPENAI_API_KEY",
    base_url_env="AZURE_OPENAI_ENDPOINT",
    env_settings={"api_version": "AZURE_OPENAI_API_VERSION", "ad_token": "AZURE_OPENAI_AD_TOKEN"},
    settings=AzureSettings,
    capabilities=frozenset({CHAT, EMBEDDINGS}),
)
