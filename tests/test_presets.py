"""The named OpenAI-compatible presets (mistral, groq, deepseek, together, fireworks,
openrouter, xai): each registered with its URL and key variable, enabled by `{}` plus its
key in the environment (or by the environment alone), and the official openai SDK through
the gateway to a mock of the vendor that refuses what the vendor refuses."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from aigw import config as configmod
from aigw.billing.cost import Pricer
from aigw.billing.prices import shipped_price
from aigw.providers import registry
from aigw.providers.openai.adapter import error_from
from aigw.providers.presets.adapter import PresetAdapter
from tests.mock_presets import PATHS, TEXT, MockVendor
from tests.mock_providers import UPSTREAM_KEY

VENDORS = ("mistral", "groq", "deepseek", "together", "fireworks", "openrouter", "xai")
DOCUMENTED = {  # base URL and key variable, as each vendor's docs give them
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": ("https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY"),
}
HELLO: Any = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@pytest.fixture(params=VENDORS)
async def vendor(request: pytest.FixtureRequest) -> Any:
    m = MockVendor(request.param)
    await m.start()
    yield m
    await m.stop()


def test_presets_are_registered_with_their_documented_url_and_key() -> None:
    for name, (url, key) in DOCUMENTED.items():
        spec = registry.spec(name)
        assert (spec.default_base_url, spec.key_env) == (url, key)
        assert isinstance(spec.adapter, PresetAdapter)
        assert url.endswith(PATHS[name]) or not PATHS[name]  # the mocks serve the same paths
        assert configmod.ENV_PROVIDERS[name][0] == key


async def test_empty_entry_and_key_in_the_environment_just_work(
    vendor: MockVendor, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = vendor.vendor
    monkeypatch.setenv(DOCUMENTED[name][1], UPSTREAM_KEY)
    monkeypatch.setenv(f"{name.upper()}_BASE_URL", vendor.base_url)
    gw = await start_gateway(
        {
            "providers": {name: {}},
            "models": {"m": {"provider": name, "model": "vendor-model"}},
            "auth": {"required": False},
            "logging": {"level": "warning"},
        }
    )
    client = gw.openai()
    r = await client.chat.completions.create(
        model="m", messages=HELLO, user="u-1", seed=7, presence_penalty=0.5
    )
    assert r.choices[0].message.content == TEXT
    sent = vendor.calls[-1]
    assert sent.path == PATHS[name] + "/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.body["model"] == "vendor-model"

    stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == TEXT

    t = await client.chat.completions.create(model="m", messages=HELLO, tools=[WEATHER_TOOL])
    call = t.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert orjson.loads(call.function.arguments) == {"location": "Paris, France"}  # type: ignore[union-attr]
    stream = await client.chat.completions.create(
        model="m", messages=HELLO, tools=[WEATHER_TOOL], stream=True
    )
    args = ""
    async for c in stream:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                args += tc.function.arguments or ""  # type: ignore[union-attr]
    assert orjson.loads(args) == {"location": "Paris, France"}


async def test_each_vendors_differences(
    vendor: MockVendor, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = vendor.vendor
    gw = await start_gateway(
        {
            "providers": {name: {"base_url": vendor.base_url, "api_key": UPSTREAM_KEY}},
            "models": {"m": {"provider": name, "model": "vendor-model"}},
            "auth": {"required": False},
            "logging": {"level": "warning"},
        }
    )
    client = gw.openai()
    named: Any = [{"role": "user", "content": "Say hello.", "name": "ada"}]
    if name == "groq":
        before = len(vendor.calls)
        for kw in ({"logprobs": True}, {"logit_bias": {"50256": -100}}, {"n": 2}):
            with pytest.raises(openai.BadRequestError) as e:
                await client.chat.completions.create(model="m", messages=HELLO, **kw)
            assert isinstance(e.value.body, dict) and e.value.body["param"] == next(iter(kw))
        assert len(vendor.calls) == before  # refused before any upstream call
        await client.chat.completions.create(model="m", messages=named)
        assert "name" not in vendor.calls[-1].body["messages"][0]
    elif name == "mistral":
        await client.chat.completions.create(
            model="m", messages=HELLO, seed=7, user="u", max_completion_tokens=9, stream=False
        )
        sent = vendor.calls[-1].body
        assert sent["random_seed"] == 7 and sent["max_tokens"] == 9
        assert "seed" not in sent and "user" not in sent
        stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
        async for _ in stream:
            pass
        assert "stream_options" not in vendor.calls[-1].body
        e = await client.embeddings.create(model="m", input=["a", "b"], dimensions=3, user="u")
        assert len(e.data) == 2
        assert vendor.calls[-1].body["output_dimension"] == 3
    elif name == "xai":
        await client.chat.completions.create(
            model="m", messages=HELLO, presence_penalty=0.5, frequency_penalty=0.2
        )
        assert "presence_penalty" not in vendor.calls[-1].body
    else:
        await client.chat.completions.create(model="m", messages=named, store=True)
        sent = vendor.calls[-1].body
        assert sent["messages"][0]["name"] == "ada"
        assert ("store" in sent) is (name == "openrouter")
    if name in ("groq", "deepseek", "openrouter", "xai"):
        with pytest.raises(openai.BadRequestError) as nb:
            await client.embeddings.create(model="m", input="a")
        assert isinstance(nb.value.body, dict) and nb.value.body["code"] == "model_not_supported"


def test_usage_in_each_vendors_spelling() -> None:
    deepseek = registry.get("deepseek")
    body = {
        "choices": [],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 5,
            "total_tokens": 35,
            "prompt_cache_hit_tokens": 16,
            "prompt_cache_miss_tokens": 14,
        },
    }
    u = deepseek.chat_response(body, "deepseek-chat").usage
    assert u is not None and (u.prompt_tokens, u.cached_tokens) == (30, 16)
    groq = registry.get("groq").chat_stream("m")
    last = {
        "id": "x",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": {"id": "req", "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    }
    groq.feed(None, orjson.dumps(last))
    assert groq.usage is not None and groq.usage.completion_tokens == 3


def test_mistral_and_xai_error_shapes_keep_their_message() -> None:
    mistral = {
        "object": "error",
        "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "x"]}]},
        "type": "invalid_request_error",
    }
    e = error_from(422, orjson.dumps(mistral), {}, "mistral")
    assert e.status == 422 and "extra_forbidden" in e.message
    xai = {"code": "Client specified an invalid argument", "error": "Argument not supported"}
    e = error_from(400, orjson.dumps(xai), {}, "xai")
    assert e.status == 400 and e.message == "Argument not supported"


async def test_enabled_from_the_environment_alone(vendor: MockVendor, start_gateway: Any) -> None:
    name = vendor.vendor
    env = {DOCUMENTED[name][1]: UPSTREAM_KEY, f"{name.upper()}_BASE_URL": vendor.base_url}
    cfg = configmod.defaults_from_env(env)
    assert list(cfg.providers) == [name]
    assert set(registry.spec(name).default_models) <= set(cfg.models)
    cfg.auth.required = False
    gw = await start_gateway(cfg)
    r = await gw.openai().chat.completions.create(model=f"{name}/any-model", messages=HELLO)
    assert r.choices[0].message.content == TEXT
    assert vendor.calls[-1].body["model"] == "any-model"


def test_preset_models_are_priced() -> None:
    cfg = configmod.defaults_from_env({k: "x" for _, k in DOCUMENTED.values()})
    pricer = Pricer(cfg)
    for name in VENDORS:
        for model in registry.spec(name).default_models:
            assert pricer.price(f"{name}/{model}", model) is not None, model
    assert shipped_price("deepseek-chat") is not None
    assert shipped_price("deepseek-chat").cached_input < shipped_price("deepseek-chat").input  # type: ignore[union-attr]
