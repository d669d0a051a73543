"""`providers.<name>` settings of a Gemini API provider (`type: gemini`)."""

from __future__ import annotations

from aigw.providers.settings import ProviderConfig


class GeminiSettings(ProviderConfig):
    # `api_key` (from ProviderConfig) goes in the x-goog-api-key header, never in the URL.
    api_version: str = "v1beta"  # the path's version: v1beta has every feature used here
