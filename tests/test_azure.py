"""Azure OpenAI (`type: azure`): the stream translation on recorded shapes, then the official
openai SDK through the gateway to a mock Azure resource that checks what it receives (URL
style, api-version, api-key or Entra bearer token, the deployment) in both URL styles: chat
JSON and stream, tools, content filters, throttling and failover, embeddings, errors, and
the provider enabled from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from aigw import config as configmod
from aigw.billing.cost import Pricer
from aigw.billing.prices import shipped_price
from aigw.config import ConfigError
from aigw.providers.azure.adapter import adapter
from aigw.providers.azure.settings import AzureSettings
from tests.conftest import mock_config
from tests.helpers_providers import assemble, check_chunk_shape, translate_stream
from tests.mock_azure import AD_TOKEN, MockAzure
from tests.mock_providers import UPSTREAM_KEY, fixture_json

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
HELLO: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
async def azure() -> Any:
    m = MockAzure()
    await m.start()
    yield m
    await m.stop()


def azure_config(url: str, mock_url: str | None = None, **provider: Any) -> dict[str, Any]:
    """Provider `az` (the mock resource, deployment style unless api_version is None) with
    one client-facing model per deployment; `oai` (the OpenAI mock) when given."""
    az = {"type": "azure", "base_url": url, "api_key": UPSTREAM_KEY, **provider}
    az.setdefault("api_version", "2024-10-21")
    if az["api_version"] is None:
        del az["api_version"]
    cfg = mock_config(
        mock_url or "http://127.0.0.1:9",
        providers={"az": az},
        models={
            "gpt-4o-azure": {"provider": "az", "model": "gpt4o-prod"},
            "filtered": {"provider": "az", "model": "gpt4o-filtered"},
            "cut": {"provider": "az", "model": "gpt4o-cut"},
            "throttled": {"provider": "az", "model": "gpt4o-throttled"},
            "throttled-ha": {
                "provider": "az",
                "model": "gpt4o-throttled",
                "fallbacks": ["gpt-test"],
            },
            "embed-azure": {"provider": "az", "model": "embed-prod"},
            "missing": {"provider": "az", "model": "no-such-deployment"},
        },
    )
    return cfg


# --- settings and translation ----------------------------------------------------------------


def test_settings_need_the_resource_and_take_either_url_style() -> None:
    with pytest.raises(ConfigError) as e:
        configmod.from_dict({"providers": {"az": {"type": "azure", "api_key": "k"}}}, env={})
    assert str(e.value).startswith("config error: providers.az.base_url: required for Azure")
    cfg = configmod.from_dict(
        {
            "providers": {
                "az": {
                    "type": "azure",
                    "base_url": "https://res.openai.azure.com/openai/v1/",
                    "api_key": "k",
                }
            }
        },
        env={},
    )
    s = cfg.providers["az"]
    assert isinstance(s, AzureSettings) and s.base_url == "https://res.openai.azure.com"
    req = adapter.chat_request(s, {"messages": HELLO}, "my dep", True)
    assert req.path == "/openai/v1/chat/completions"
    assert req.body["model"] == "my dep" and req.body["stream_options"] == {"include_usage": True}
    assert req.headers["api-key"] == "k" and "Authorization" not in req.headers
    old = AzureSettings(base_url="https://r.openai.azure.com", api_version="2024-06-01")
    req = adapter.chat_request(old, {"messages": HELLO, "stream_options": {}}, "my dep", True)
    assert req.path == "/openai/deployments/my%20dep/chat/completions?api-version=2024-06-01"
    assert "stream_options" not in req.body  # refused before 2024-09-01
    token = AzureSettings(base_url="https://r.openai.azure.com", api_key="k", ad_token="t")
    h = adapter.chat_request(token, {"messages": HELLO}, "d", False).headers
    assert h["Authorization"] == "Bearer t" and "api-key" not in h


def test_stream_annotations_become_openai_chunks() -> None:
    chunks = translate_stream("azure", "chat.sse", adapter.chat_stream("gpt4o-prod"))
    assert all(c["id"] and c["object"] == "chat.completion.chunk" for c in chunks)
    check_chunk_shape(chunks)
    assert assemble(chunks)["message"]["content"] == "Paris is the capital of France."
    # The prompt's filter results ride on the first model chunk.
    assert chunks[0]["prompt_filter_results"][0]["prompt_index"] == 0
    assert sum("prompt_filter_results" in c for c in chunks) == 1

    cut = adapter.chat_stream("m")
    chunks = translate_stream("azure", "output_filtered.sse", cut)
    last = [c for c in chunks if c["choices"]][-1]["choices"][0]
    assert last["finish_reason"] == "content_filter" and last["delta"] == {}
    assert last["content_filter_results"]["violence"]["filtered"] is True
    assert cut.usage is not None and cut.usage.completion_tokens == 31


# --- end to end with the openai SDK ----------------------------------------------------------


@pytest.mark.parametrize("api_version", ["2024-10-21", None])
async def test_chat_json_and_stream_in_both_url_styles(
    azure: MockAzure, start_gateway: Any, api_version: str | None
) -> None:
    gw = await start_gateway(azure_config(azure.url, api_version=api_version))
    raw = await gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-azure", messages=HELLO
    )
    r = raw.parse()
    assert r.choices[0].message.content == "Paris is the capital of France."
    assert r.usage is not None and r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 1024
    # Azure's own fields reach the client unchanged (the answer passes through).
    body = orjson.loads(raw.content)
    assert body == fixture_json("azure", "chat.json")
    sent = azure.calls[-1]
    if api_version:
        assert sent.path == "/openai/deployments/gpt4o-prod/chat/completions"
        assert sent.query == {"api-version": api_version}
    else:
        assert sent.path == "/openai/v1/chat/completions" and sent.query == {}
    assert sent.body["model"] == "gpt4o-prod"
    assert sent.headers["api-key"] == UPSTREAM_KEY and "Authorization" not in sent.headers

    stream = await gw.openai().chat.completions.create(
        model="gpt-4o-azure", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c.model_dump() async for c in stream]
    assert all(c["id"] for c in chunks)
    assert "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c["choices"]) == (
        "Paris is the capital of France."
    )
    assert chunks[-1]["usage"]["prompt_tokens"] == 1254
    assert azure.calls[-1].body["stream_options"] == {"include_usage": True}


async def test_entra_token_and_an_api_version_without_stream_options(
    azure: MockAzure, start_gateway: Any
) -> None:
    gw = await start_gateway(
        azure_config(azure.url, api_key=None, ad_token=AD_TOKEN, api_version="2024-06-01")
    )
    stream = await gw.openai().chat.completions.create(
        model="gpt-4o-azure", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Paris is the capital of France."
    sent = azure.calls[-1]
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["Authorization"] == f"Bearer {AD_TOKEN}" and "api-key" not in sent.headers
    assert "stream_options" not in sent.body


async def test_tools_json_and_stream(azure: MockAzure, start_gateway: Any) -> None:
    gw = await start_gateway(azure_config(azure.url))
    client = gw.openai()
    r = await client.chat.completions.create(
        model="gpt-4o-azure", messages=HELLO, tools=[WEATHER_TOOL]
    )
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert orjson.loads(call.function.arguments) == {"location": "Paris, France"}  # type: ignore[union-attr]
    history: Any = [
        *HELLO,
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"},
    ]
    answer = await client.chat.completions.create(
        model="gpt-4o-azure", messages=history, tools=[WEATHER_TOOL]
    )
    assert answer.choices[0].message.content
    assert azure.calls[-1].body["messages"][-1]["tool_call_id"] == call.id

    stream = await client.chat.completions.create(
        model="gpt-4o-azure", messages=HELLO, tools=[WEATHER_TOOL], stream=True
    )
    args, finish = "", None
    async for c in stream:
        for ch in c.choices:
            for tc in ch.delta.tool_calls or []:
                args += tc.function.arguments or ""  # type: ignore[union-attr]
            finish = ch.finish_reason or finish
    assert orjson.loads(args) == {"location": "Paris, France"} and finish == "tool_calls"


async def test_content_filters(azure: MockAzure, start_gateway: Any) -> None:
    gw = await start_gateway(azure_config(azure.url))
    client = gw.openai()
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="filtered", messages=HELLO)
    err = e.value.body
    assert isinstance(err, dict) and err["code"] == "content_filter" and err["param"] == "prompt"
    assert e.value.response.headers.get("x-aigw-attempts") == "1"  # a refusal is not retried
    r = await client.chat.completions.create(model="cut", messages=HELLO)
    assert r.choices[0].finish_reason == "content_filter"
    stream = await client.chat.completions.create(model="cut", messages=HELLO, stream=True)
    finishes = [ch.finish_reason async for c in stream for ch in c.choices if ch.finish_reason]
    assert finishes == ["content_filter"]


async def test_throttling_is_retryable_and_fails_over_to_another_cloud(
    azure: MockAzure, mock: Any, start_gateway: Any
) -> None:
    cfg = azure_config(azure.url, mock.url)
    cfg["routing"] = {"retries": {"max_attempts": 1}}
    gw = await start_gateway(cfg)
    with pytest.raises(openai.RateLimitError) as e:
        await gw.openai().chat.completions.create(model="throttled", messages=HELLO)
    assert e.value.response.headers["retry-after"] == "6"
    raw = await gw.openai().chat.completions.with_raw_response.create(
        model="throttled-ha", messages=HELLO
    )
    assert raw.headers["x-aigw-deployment"] == "mock/upstream-model"
    assert raw.parse().choices[0].message.content == mock.text


async def test_embeddings_and_errors(azure: MockAzure, start_gateway: Any) -> None:
    gw = await start_gateway(azure_config(azure.url))
    client = gw.openai()
    e = await client.embeddings.create(model="embed-azure", input=["a", "b"])
    assert [d.index for d in e.data] == [0, 1] and e.usage.prompt_tokens == 9
    assert azure.calls[-1].path == "/openai/deployments/embed-prod/embeddings"
    with pytest.raises(openai.NotFoundError) as nf:
        await client.chat.completions.create(model="missing", messages=HELLO)
    assert "deployment for this resource does not exist" in nf.value.message
    # Azure refusing the gateway's own key or token is the gateway's problem (issue 13 item
    # 4): a 502 with the gateway's message, never Azure's text about the credential.
    bad = await start_gateway(azure_config(azure.url, api_key="wrong"))
    with pytest.raises(openai.InternalServerError) as wrong:
        await bad.openai().chat.completions.create(model="gpt-4o-azure", messages=HELLO)
    assert (wrong.value.status_code, wrong.value.code) == (502, "upstream_auth_failed")
    expired = await start_gateway(azure_config(azure.url, ad_token="expired"))
    with pytest.raises(openai.InternalServerError) as au:
        await expired.openai().chat.completions.create(model="gpt-4o-azure", messages=HELLO)
    assert au.value.code == "upstream_auth_failed"
    assert "Access token" not in au.value.message and "expired" not in au.value.message


async def test_enabled_from_the_environment(azure: MockAzure, start_gateway: Any) -> None:
    env = {
        "AZURE_OPENAI_API_KEY": UPSTREAM_KEY,
        "AZURE_OPENAI_ENDPOINT": azure.url + "/",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }
    cfg = configmod.defaults_from_env(env)
    assert cfg.providers["azure"].type == "azure"
    cfg.auth.required = False
    gw = await start_gateway(cfg)
    r = await gw.openai().chat.completions.create(model="azure/gpt4o-prod", messages=HELLO)
    assert r.choices[0].message.content == "Paris is the capital of France."
    assert azure.calls[-1].query == {"api-version": "2025-01-01-preview"}
    # Without an endpoint there is no resource to enable.
    assert "azure" not in configmod.defaults_from_env({"AZURE_OPENAI_API_KEY": "k"}).providers


def test_a_deployment_named_after_its_model_is_priced_as_the_model(tmp_path: Path) -> None:
    cfg = configmod.from_dict(azure_config("https://r.openai.azure.com"), env={})
    pricer = Pricer(cfg)
    assert pricer.price("az/gpt4o-prod", "gpt-4o-azure") == shipped_price("gpt-4o")


async def test_anthropic_sdk_on_messages_reaches_azure(
    azure: MockAzure, start_gateway: Any
) -> None:
    gw = await start_gateway(azure_config(azure.url))
    claude = anthropic.AsyncAnthropic(base_url=gw.url, api_key="sk-client", max_retries=0)
    msg = await claude.messages.create(model="gpt-4o-azure", max_tokens=50, messages=HELLO)
    assert msg.content[0].text == "Paris is the capital of France."  # type: ignore[union-attr]
    assert msg.usage.cache_read_input_tokens == 1024
    async with claude.messages.stream(model="cut", max_tokens=50, messages=HELLO) as s:
        final = await s.get_final_message()
    assert final.stop_reason == "refusal"  # Azure's content_filter, in Anthropic's terms
    assert azure.calls[-1].path == "/openai/deployments/gpt4o-cut/chat/completions"
