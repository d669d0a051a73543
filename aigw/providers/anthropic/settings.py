"""`providers.<name>` settings of an Anthropic provider."""

from __future__ import annotations

from pydantic import Field

from aigw.providers.anthropic.request import API_VERSION
from aigw.providers.settings import ProviderConfig


class AnthropicSettings(ProviderConfig):
    api_version: str = API_VERSION  # the `anthropic-version` header
    default_max_tokens: int = Field(4096, ge=1)  # when the client gives none (Anthropic needs one)
