"""Cohere's v2 API: chat (JSON and stream, tools) and embeddings."""

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec
from aigw.providers.cohere.adapter import adapter

spec = ProviderSpec(
    type="cohere",
    default_base_url="https://api.cohere.com",
    adapter=adapter,
    key_env="COHERE_API_KEY",
    base_url_env="COHERE_BASE_URL",
    capabilities=frozenset({CHAT, EMBEDDINGS}),
    default_models=(
        "command-a-03-2025",
        "command-r-plus-08-2024",
        "command-r-08-2024",
        "embed-v4.0",
        "embed-english-v3.0",
        "embed-multilingual-v3.0",
    ),
)
