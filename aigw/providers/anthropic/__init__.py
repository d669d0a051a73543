"""Anthropic's Messages format, both ways: to an Anthropic upstream (request.py, response.py,
stream.py) and from clients of `POST /v1/messages` (inbound.py); errors both ways in
errors.py."""

from aigw.providers.anthropic.adapter import adapter
from aigw.providers.anthropic.settings import AnthropicSettings
from aigw.providers.base import CHAT, COUNT_TOKENS, MESSAGES, ProviderSpec

spec = ProviderSpec(
    type="anthropic",
    default_base_url="https://api.anthropic.com",
    adapter=adapter,
    key_env="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    settings=AnthropicSettings,
    capabilities=frozenset({CHAT, COUNT_TOKENS, MESSAGES}),
    default_models=(
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-3-5-haiku-latest",
    ),
)
