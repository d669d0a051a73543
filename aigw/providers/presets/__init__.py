"""Named presets of the OpenAI type: Mistral, Groq, DeepSeek, Together, Fireworks, OpenRouter,
xAI (vendors.py), each a spec of its own on the OpenAI adapter with its differences
(adapter.py)."""

from aigw.providers.presets.vendors import (
    deepseek,
    fireworks,
    groq,
    mistral,
    openrouter,
    together,
    xai,
)

__all__ = ["deepseek", "fireworks", "groq", "mistral", "openrouter", "together", "xai"]
