"""Provider types by name. Adding a provider: its package under `aigw/providers/`, and one
line here (docs/PROVIDERS.md, "Adding a provider")."""

from __future__ import annotations

from aigw.providers import anthropic, azure, bedrock, cohere, gemini, openai, presets, vertex
from aigw.providers.base import ProviderAdapter, ProviderSpec

SPECS: dict[str, ProviderSpec] = {
    s.type: s
    for s in (
        openai.spec,
        anthropic.spec,
        cohere.spec,
        azure.spec,
        gemini.spec,
        vertex.spec,
        bedrock.spec,
        presets.mistral,
        presets.groq,
        presets.deepseek,
        presets.together,
        presets.fireworks,
        presets.openrouter,
        presets.xai,
    )
}


def names() -> list[str]:
    return list(SPECS)


def spec(type_: str) -> ProviderSpec:
    return SPECS[type_]


def get(type_: str) -> ProviderAdapter:
    return SPECS[type_].adapter
