"""The shipped price table: USD per 1M tokens (input, output, cached input), from the
providers' public price pages (checked 2026-11). Override or extend it in config:

    billing:
      prices:
        gpt-4o: {input: 2.5, output: 10, cached_input: 1.25}

A deployment's own `price:` wins over both. Dated model names (`gpt-4o-2024-08-06`,
`claude-3-5-sonnet-20241022`) fall back to the longest listed prefix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    cached_input: float  # USD per 1M prompt tokens served from the provider's cache
    cache_write: float  # USD per 1M prompt tokens written to the cache (Anthropic)

    @classmethod
    def of(
        cls,
        input: float,
        output: float,
        cached_input: float | None = None,
        cache_write: float | None = None,
    ) -> Price:
        return cls(
            input,
            output,
            input if cached_input is None else cached_input,
            input if cache_write is None else cache_write,
        )


def _anthropic(inp: float, out: float) -> Price:
    # Cache reads cost 10% of input, 5-minute cache writes 125%.
    return Price.of(inp, out, round(inp * 0.1, 6), round(inp * 1.25, 6))


SHIPPED: dict[str, Price] = {
    # OpenAI (cached input: the prompt-caching discount)
    "gpt-5": Price.of(1.25, 10.0, 0.125),
    "gpt-5-mini": Price.of(0.25, 2.0, 0.025),
    "gpt-5-nano": Price.of(0.05, 0.40, 0.005),
    "gpt-4.1": Price.of(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price.of(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price.of(0.10, 0.40, 0.025),
    "gpt-4o": Price.of(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price.of(0.15, 0.60, 0.075),
    "o1": Price.of(15.0, 60.0, 7.50),
    "o1-mini": Price.of(1.10, 4.40, 0.55),
    "o3": Price.of(2.0, 8.0, 0.50),
    "o3-mini": Price.of(1.10, 4.40, 0.55),
    "o4-mini": Price.of(1.10, 4.40, 0.275),
    "gpt-4-turbo": Price.of(10.0, 30.0),
    "gpt-4": Price.of(30.0, 60.0),
    "gpt-3.5-turbo": Price.of(0.50, 1.50),
    "text-embedding-3-small": Price.of(0.02, 0.0),
    "text-embedding-3-large": Price.of(0.13, 0.0),
    "text-embedding-ada-002": Price.of(0.10, 0.0),
    # Anthropic
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-haiku": _anthropic(0.80, 4.0),
    "claude-3-opus": _anthropic(15.0, 75.0),
    "claude-3-haiku": Price.of(0.25, 1.25, 0.03, 0.30),
    # Cohere
    "command-a": Price.of(2.50, 10.0),
    "command-r-plus": Price.of(2.50, 10.0),
    "command-r": Price.of(0.15, 0.60),
    "command-r7b": Price.of(0.0375, 0.15),
    "embed-v4.0": Price.of(0.12, 0.0),
    "embed-english-v3.0": Price.of(0.10, 0.0),
    "embed-multilingual-v3.0": Price.of(0.10, 0.0),
    # Azure OpenAI: the OpenAI names above (Global Standard deployments cost the same); a
    # deployment named after its model (`gpt-4o-prod`) finds its price by prefix.
    # Mistral
    "mistral-large": Price.of(2.0, 6.0),
    "mistral-medium": Price.of(0.40, 2.0),
    "mistral-small": Price.of(0.10, 0.30),
    "codestral": Price.of(0.30, 0.90),
    "open-mistral-nemo": Price.of(0.15, 0.15),
    "mistral-embed": Price.of(0.10, 0.0),
    # Groq
    "llama-3.3-70b-versatile": Price.of(0.59, 0.79),
    "llama-3.1-8b-instant": Price.of(0.05, 0.08),
    "openai/gpt-oss-120b": Price.of(0.15, 0.75),
    "openai/gpt-oss-20b": Price.of(0.075, 0.30),
    # DeepSeek (cached input: a prompt-cache hit)
    "deepseek-chat": Price.of(0.28, 0.42, 0.028),
    "deepseek-reasoner": Price.of(0.28, 0.42, 0.028),
    # Together
    "meta-llama/Llama-3.3-70B-Instruct-Turbo": Price.of(0.88, 0.88),
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": Price.of(0.18, 0.18),
    # Fireworks
    "accounts/fireworks/models/llama-v3p3-70b-instruct": Price.of(0.90, 0.90),
    "accounts/fireworks/models/llama-v3p1-8b-instruct": Price.of(0.20, 0.20),
    # xAI
    "grok-4": Price.of(3.0, 15.0, 0.75),
    "grok-4-fast": Price.of(0.20, 0.50, 0.05),
    "grok-3": Price.of(3.0, 15.0, 0.75),
    "grok-3-mini": Price.of(0.30, 0.50, 0.075),
    "grok-code-fast-1": Price.of(0.20, 1.50, 0.02),
    # OpenRouter: `vendor/model` names find the model's own price above by its last part.
    # Google Gemini (the Gemini API and Vertex AI list the same standard prices; prompts up
    # to 200k tokens, text; cached input: context caching). Thinking tokens are output.
    "gemini-3-pro": Price.of(2.0, 12.0, 0.20),
    "gemini-2.5-pro": Price.of(1.25, 10.0, 0.31),
    "gemini-2.5-flash": Price.of(0.30, 2.50, 0.075),
    "gemini-2.5-flash-lite": Price.of(0.10, 0.40, 0.025),
    "gemini-2.0-flash": Price.of(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": Price.of(0.075, 0.30),
    "gemini-embedding-001": Price.of(0.15, 0.0),
    # Vertex prices these per character ($0.025 per 1M); about four characters a token.
    "text-embedding-005": Price.of(0.10, 0.0),
    "text-embedding-004": Price.of(0.10, 0.0),
    "text-multilingual-embedding-002": Price.of(0.10, 0.0),
    # AWS Bedrock, on-demand (us-east-1). Claude costs what it costs at Anthropic; a
    # cross-region profile (`us.`, `eu.`, `apac.`, `global.`) is priced as its model.
    "anthropic.claude-opus-4-5": _anthropic(5.0, 25.0),
    "anthropic.claude-opus-4-1": _anthropic(15.0, 75.0),
    "anthropic.claude-opus-4": _anthropic(15.0, 75.0),
    "anthropic.claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "anthropic.claude-sonnet-4": _anthropic(3.0, 15.0),
    "anthropic.claude-haiku-4-5": _anthropic(1.0, 5.0),
    "anthropic.claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "anthropic.claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "anthropic.claude-3-5-haiku": _anthropic(0.80, 4.0),
    "anthropic.claude-3-haiku": Price.of(0.25, 1.25, 0.03, 0.30),
    "amazon.nova-premier": Price.of(2.50, 12.50, 0.625),
    "amazon.nova-pro": Price.of(0.80, 3.20, 0.20),
    "amazon.nova-lite": Price.of(0.06, 0.24, 0.015),
    "amazon.nova-micro": Price.of(0.035, 0.14, 0.00875),
    "meta.llama3-3-70b-instruct": Price.of(0.72, 0.72),
    "meta.llama3-1-70b-instruct": Price.of(0.72, 0.72),
    "meta.llama3-1-8b-instruct": Price.of(0.22, 0.22),
    "mistral.mistral-large-2407": Price.of(2.0, 6.0),
    "deepseek.r1": Price.of(1.35, 5.40),
    "amazon.titan-embed-text-v2": Price.of(0.02, 0.0),
    "amazon.titan-embed-text-v1": Price.of(0.10, 0.0),
    "cohere.embed-english-v3": Price.of(0.10, 0.0),
    "cohere.embed-multilingual-v3": Price.of(0.10, 0.0),
    "cohere.embed-v4": Price.of(0.12, 0.0),
}

# Bedrock's cross-region inference profiles: `us.amazon.nova-pro-v1:0` is amazon.nova-pro.
_BEDROCK_GEO = ("us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca.")


def shipped_price(model: str) -> Price | None:
    """Exact name, else the longest shipped name that prefixes it (dated snapshots)."""
    p = SHIPPED.get(model)
    if p is not None:
        return p
    name = model.rsplit("/", 1)[-1]
    if name.startswith(_BEDROCK_GEO):
        name = name.split(".", 1)[1]
    best = ""
    for known in SHIPPED:
        if name.startswith(known) and len(known) > len(best):
            best = known
    return SHIPPED.get(best) if best else None
