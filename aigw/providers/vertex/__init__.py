"""Vertex AI (`type: vertex`): Gemini's content format (providers/gemini) on Google Cloud's
regional endpoint, with OAuth access tokens from google-auth (token.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec, settings_as
from aigw.providers.settings import ProviderConfig
from aigw.providers.vertex.adapter import adapter
from aigw.providers.vertex.settings import VertexSettings
from aigw.providers.vertex.token import AccessTokens


def from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """GOOGLE_CLOUD_PROJECT with credentials: a key file in GOOGLE_APPLICATION_CREDENTIALS, or
    GOOGLE_GENAI_USE_VERTEXAI=true (Application Default Credentials, as Google's SDK reads
    it); GOOGLE_CLOUD_LOCATION, us-central1 by default; GOOGLE_VERTEX_BASE_URL overrides
    the endpoint. google-auth reads the key file itself (any type it knows)."""
    project = env.get("GOOGLE_CLOUD_PROJECT")
    use_adc = env.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("true", "1")
    if not project or not (env.get("GOOGLE_APPLICATION_CREDENTIALS") or use_adc):
        return None
    out: dict[str, Any] = {
        "project": project,
        "location": env.get("GOOGLE_CLOUD_LOCATION") or "us-central1",
    }
    if env.get("GOOGLE_VERTEX_BASE_URL"):
        out["base_url"] = env["GOOGLE_VERTEX_BASE_URL"]
    return out


def credentials(conf: ProviderConfig) -> AccessTokens:
    return AccessTokens(conf.name, settings_as(conf, VertexSettings).credentials_file)


spec = ProviderSpec(
    type="vertex",
    default_base_url="https://us-central1-aiplatform.googleapis.com",  # (per location)
    adapter=adapter,
    settings=VertexSettings,
    # An entry named `vertex` takes what it leaves out from these (as Google's SDK reads them).
    base_url_env="GOOGLE_VERTEX_BASE_URL",
    env_settings={"project": "GOOGLE_CLOUD_PROJECT", "location": "GOOGLE_CLOUD_LOCATION"},
    capabilities=frozenset({CHAT, EMBEDDINGS}),
    default_models=(
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-embedding-001",
        "text-embedding-005",
        "text-embedding-004",
    ),
    from_env=from_env,
    credentials=credentials,
)
