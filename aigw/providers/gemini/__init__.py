"""Google's content format (Gemini API and Vertex AI): request.py builds a
`GenerateContentRequest`, response.py reads answers and SSE streams, schema.py cuts JSON
Schemas down to Gemini's subset, ids.py makes tool-call ids, errors.py maps Google's errors,
embeddings.py both embedding APIs; adapter.py and this spec are the Gemini API provider
(`type: gemini`). Vertex AI (providers/vertex) uses the same format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec
from aigw.providers.gemini.adapter import adapter
from aigw.providers.gemini.settings import GeminiSettings

MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-embedding-001",
    "text-embedding-004",
)


def from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """GOOGLE_API_KEY or GEMINI_API_KEY (the first when both are set, as Google's own SDK
    reads them); GOOGLE_GEMINI_BASE_URL overrides the endpoint."""
    key = env.get("GOOGLE_API_KEY") or env.get("GEMINI_API_KEY")
    if not key:
        return None
    out: dict[str, Any] = {"api_key": key}
    if env.get("GOOGLE_GEMINI_BASE_URL"):
        out["base_url"] = env["GOOGLE_GEMINI_BASE_URL"]
    return out


spec = ProviderSpec(
    type="gemini",
    default_base_url="https://generativelanguage.googleapis.com",
    adapter=adapter,
    key_env="GEMINI_API_KEY",
    base_url_env="GOOGLE_GEMINI_BASE_URL",
    settings=GeminiSettings,
    capabilities=frozenset({CHAT, EMBEDDINGS}),
    default_models=MODELS,
    from_env=from_env,
)
