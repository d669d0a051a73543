"""`providers.<name>` settings of an OpenAI-type provider."""

from __future__ import annotations

from aigw.providers.settings import ProviderConfig


class OpenAISettings(ProviderConfig):
    # /v1/responses requests go to the upstream's own Responses API (built-in tools work)
    # instead of being translated to chat. None: only for api.openai.com (most
    # OpenAI-compatible servers have no /responses).
    native_responses: bool | None = None
