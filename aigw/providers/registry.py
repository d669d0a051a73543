"""Provider types by name. Adding a provider: write its module, add one line here."""

from __future__ import annotations

from aigw.providers.base import ProviderAdapter

_ADAPTERS: dict[str, str] = {
    "openai": "aigw.providers.openai",
    "anthropic": "aigw.providers.anthropic",
    "cohere": "aigw.providers.cohere",
    "bedrock": "aigw.providers.bedrock",
}


def names() -> list[str]:
    return list(_ADAPTERS)


def get(type_: str) -> ProviderAdapter:
    import importlib

    return importlib.import_module(_ADAPTERS[type_]).adapter
