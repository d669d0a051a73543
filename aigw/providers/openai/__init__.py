"""OpenAI, and any server that speaks its API (`base_url` pointing at vLLM, Ollama, ...)."""

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec
from aigw.providers.openai.adapter import adapter
from aigw.providers.openai.settings import OpenAISettings

spec = ProviderSpec(
    type="openai",
    default_base_url="https://api.openai.com/v1",
    adapter=adapter,
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    settings=OpenAISettings,
    capabilities=frozenset({CHAT, EMBEDDINGS}),
    default_models=(
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o4-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ),
)
