"""The vendors that speak OpenAI's API, each one entry: its URL, key variable, usual models,
and its differences from OpenAI (what they refuse or name otherwise, per their API docs).

`providers: {groq: {}}` with GROQ_API_KEY set is enough; so is `aigw serve` with no config
file and the key in the environment.
"""

from __future__ import annotations

from aigw.providers.base import CHAT, EMBEDDINGS, ProviderSpec
from aigw.providers.presets.adapter import PresetAdapter, Quirks

# Fields of OpenAI's chat request that only OpenAI's own API takes.
OPENAI_ONLY = frozenset({"store", "metadata", "service_tier", "prediction", "modalities", "audio"})


def preset(
    type_: str,
    base_url: str,
    key_env: str,
    quirks: Quirks,
    models: tuple[str, ...],
) -> ProviderSpec:
    caps = frozenset({CHAT, EMBEDDINGS}) if quirks.embeddings else frozenset({CHAT})
    return ProviderSpec(
        type=type_,
        default_base_url=base_url,
        adapter=PresetAdapter(type_, quirks),
        key_env=key_env,
        base_url_env=f"{type_.upper()}_BASE_URL",
        capabilities=caps,
        default_models=models,
    )


# Mistral rejects unknown fields (422 extra_forbidden); its seed is `random_seed`; streams
# end with usage without being asked.
mistral = preset(
    "mistral",
    "https://api.mistral.ai/v1",
    "MISTRAL_API_KEY",
    Quirks(
        rename={
            "seed": "random_seed",
            "max_completion_tokens": "max_tokens",
            "dimensions": "output_dimension",
        },
        only=frozenset(
            {
                "model",
                "messages",
                "temperature",
                "top_p",
                "max_tokens",
                "stream",
                "stop",
                "random_seed",
                "response_format",
                "tools",
                "tool_choice",
                "presence_penalty",
                "frequency_penalty",
                "n",
                "parallel_tool_calls",
                "safe_prompt",
                "prompt_mode",
                # embeddings
                "input",
                "encoding_format",
                "output_dimension",
                "output_dtype",
            }
        ),
        stream_usage=False,
        embeddings=True,
    ),
    ("mistral-large-latest", "mistral-medium-latest", "mistral-small-latest", "mistral-embed"),
)

# Groq answers 400 to logprobs, logit_bias, top_logprobs, messages[].name and n > 1.
groq = preset(
    "groq",
    "https://api.groq.com/openai/v1",
    "GROQ_API_KEY",
    Quirks(
        refuse=frozenset({"logprobs", "top_logprobs", "logit_bias"}),
        drop=OPENAI_ONLY,
        single_choice=True,
        message_names=False,
    ),
    ("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b"),
)

# DeepSeek counts cached prompt tokens as prompt_cache_hit_tokens; its reasoner answers
# with reasoning_content (passed through).
deepseek = preset(
    "deepseek",
    "https://api.deepseek.com",
    "DEEPSEEK_API_KEY",
    Quirks(drop=OPENAI_ONLY),
    ("deepseek-chat", "deepseek-reasoner"),
)

together = preset(
    "together",
    "https://api.together.xyz/v1",
    "TOGETHER_API_KEY",
    Quirks(drop=OPENAI_ONLY, embeddings=True),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo",),
)

fireworks = preset(
    "fireworks",
    "https://api.fireworks.ai/inference/v1",
    "FIREWORKS_API_KEY",
    Quirks(drop=OPENAI_ONLY, embeddings=True),
    ("accounts/fireworks/models/llama-v3p3-70b-instruct",),
)

# OpenRouter takes OpenAI's request as is (and forwards what each model supports).
openrouter = preset(
    "openrouter",
    "https://openrouter.ai/api/v1",
    "OPENROUTER_API_KEY",
    Quirks(),
    (),
)

# xAI's reasoning models refuse presence/frequency penalties (which only tune: left out for
# every model) and stop (sent: its 400 names it).
xai = preset(
    "xai",
    "https://api.x.ai/v1",
    "XAI_API_KEY",
    Quirks(
        drop=OPENAI_ONLY | {"presence_penalty", "frequency_penalty", "logit_bias"},
    ),
    ("grok-4", "grok-3-mini"),
)
