"""The provider shape (issue 14, part 1): specs registered once and everything derived from
them, each provider's own settings validated with key paths, Anthropic-only chat fields
passed through to an Anthropic upstream (the openai SDK's `extra_body`), and count_tokens
through the dispatcher (failover like any call)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from aigw import config as configmod
from aigw.config import ConfigError
from aigw.providers import registry
from aigw.providers.anthropic.settings import AnthropicSettings
from aigw.providers.base import CHAT, COUNT_TOKENS, MESSAGES
from aigw.providers.settings import ProviderConfig
from tests.mock_providers import UPSTREAM_KEY, MockAnthropic
from tests.procs import free_port
from tests.test_messages_endpoint import claude_config


@pytest.fixture
async def claude_upstream() -> Any:
    m = MockAnthropic()
    await m.start()
    yield m
    await m.stop()


# --- registration and settings --------------------------------------------------------------


def test_provider_lists_are_derived_from_the_registered_specs() -> None:
    assert tuple(registry.SPECS) == configmod.KNOWN_PROVIDER_TYPES
    assert {
        s.type: (s.key_env, s.base_url_env) for s in registry.SPECS.values() if s.key_env
    } == configmod.ENV_PROVIDERS
    claude = registry.spec("anthropic")
    assert {CHAT, COUNT_TOKENS, MESSAGES} <= claude.capabilities
    assert MESSAGES not in registry.spec("openai").capabilities
    env = {"ANTHROPIC_API_KEY": "sk-ant", "COHERE_API_KEY": "co"}
    cfg = configmod.defaults_from_env(env)
    assert set(cfg.providers) == {"anthropic", "cohere"}
    assert isinstance(cfg.providers["anthropic"], AnthropicSettings)
    assert cfg.providers["anthropic"].base_url == claude.default_base_url
    assert set(claude.default_models) <= set(cfg.models)


def _err(providers: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as e:
        configmod.from_dict({"providers": providers}, env={})
    return str(e.value)


def test_each_provider_type_validates_its_own_settings_with_key_paths() -> None:
    cfg = configmod.from_dict(
        {"providers": {"claude": {"type": "anthropic", "api_version": "2024-01-01"}}}, env={}
    )
    p = cfg.providers["claude"]
    assert isinstance(p, AnthropicSettings) and p.api_version == "2024-01-01"
    assert p.name == "claude" and p.type == "anthropic"
    # Anthropic's fields are Anthropic's: elsewhere they are unknown keys.
    assert (
        _err({"oai": {"type": "openai", "api_version": "x"}})
        == "config error: providers.oai.api_version: unknown key"
    )
    assert _err({"claude": {"type": "anthropic", "default_max_tokens": 0}}).startswith(
        "config error: providers.claude.default_max_tokens: Input should be greater than"
    )
    assert _err({"anthropic": {"timeout": "soon"}}).startswith(
        "config error: providers.anthropic.timeout: invalid duration 'soon'"
    )
    assert _err({"x": {"type": "nope"}}).startswith(
        "config error: providers.x.type: unknown provider type 'nope' (one of openai, "
    )
    assert _err({"x": {}}).startswith("config error: providers.x.type: missing (one of ")


def test_only_the_entry_named_after_its_type_reads_the_types_variables() -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "OPENAI_BASE_URL": "https://proxy.example/v1"}
    cfg = configmod.from_dict(
        {
            "providers": {
                "openai": {},
                "vllm": {"type": "openai", "base_url": "http://127.0.0.1:8001/v1"},
                "explicit": {"type": "openai", "api_key": "sk-own"},
            }
        },
        env=env,
    )
    p = cfg.providers
    assert (p["openai"].api_key, p["openai"].base_url) == ("sk-openai", "https://proxy.example/v1")
    assert p["vllm"].api_key is None  # a self-hosted server never gets the OpenAI key
    assert p["explicit"].api_key == "sk-own"
    assert p["explicit"].base_url == "https://api.openai.com/v1"


def test_a_plain_provider_config_gets_the_types_defaults() -> None:
    conf = ProviderConfig(name="c", type="anthropic", api_key="k")
    req = registry.get("anthropic").chat_request(
        conf, {"messages": [{"role": "user", "content": "x"}]}, "m", False
    )
    assert req.body["max_tokens"] == AnthropicSettings.model_fields["default_max_tokens"].default
    assert req.headers["anthropic-version"] == "2023-06-01"


# --- Anthropic-only fields on /v1/chat/completions -----------------------------------------

EPHEMERAL = {"type": "ephemeral"}


async def test_anthropic_fields_on_chat_reach_an_anthropic_upstream(
    claude_upstream: MockAnthropic, start_gateway: Any
) -> None:
    gw = await start_gateway(claude_config(claude_upstream.url, auth={"required": False}))
    long_doc = "A long reference document. " * 40
    messages: Any = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "You answer from the document."},
                {"type": "text", "text": long_doc, "cache_control": EPHEMERAL},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "text", "text": "Summarise it.", "cache_control": EPHEMERAL}],
        },
    ]
    tools: Any = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    r = await gw.openai().chat.completions.create(
        model="claude-sonnet",
        messages=messages,
        tools=tools,
        max_tokens=2048,
        metadata={"user_id": "user-42"},
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5},
    )
    assert r.choices[0].message.content
    sent = claude_upstream.calls[-1].body
    assert sent["system"] == [
        {"type": "text", "text": "You answer from the document."},
        {"type": "text", "text": long_doc, "cache_control": EPHEMERAL},
    ]
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "Summarise it.", "cache_control": EPHEMERAL}
    ]
    assert sent["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["top_k"] == 5
    assert sent["metadata"] == {"user_id": "user-42"}
    assert sent["max_tokens"] == 2048

    # Streamed alike; a plain `user` still becomes metadata.user_id.
    stream = await gw.openai().chat.completions.create(
        model="claude-sonnet",
        messages=messages,
        stream=True,
        user="u-7",
        extra_body={"top_k": 2},
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text
    sent = claude_upstream.calls[-1].body
    assert sent["stream"] is True and sent["top_k"] == 2
    assert sent["metadata"] == {"user_id": "u-7"} and "user" not in sent
    assert sent["system"][1]["cache_control"] == EPHEMERAL


# --- count_tokens through the dispatcher ----------------------------------------------------


async def test_count_tokens_fails_over_like_any_call(
    claude_upstream: MockAnthropic, start_gateway: Any
) -> None:
    gw = await start_gateway(
        claude_config(
            claude_upstream.url,
            providers={
                "down": {
                    "type": "anthropic",
                    "base_url": f"http://127.0.0.1:{free_port()}",
                    "api_key": UPSTREAM_KEY,
                }
            },
            models={
                "claude-ha": {
                    "provider": "down",
                    "model": "claude-text",
                    "fallbacks": ["claude-sonnet"],
                }
            },
            auth={"required": False},
        )
    )
    client = anthropic.AsyncAnthropic(base_url=gw.url, api_key="sk-client", max_retries=0)
    messages: Any = [{"role": "user", "content": "count these five words"}]
    r = await client.messages.with_raw_response.count_tokens(model="claude-ha", messages=messages)
    assert r.headers["x-aigw-token-count"] == "upstream"
    assert r.headers["x-aigw-deployment"] == "claude/claude-text"
    assert (await r.parse()).input_tokens == 1000 + 4
    assert claude_upstream.calls[-1].path == "/v1/messages/count_tokens"
    # The failed deployment counted against its breaker, as a chat call would.
    down = gw.gateway.dispatcher.snapshot()["down/claude-text"]
    assert down["failures"] >= 1
