"""Cohere provider (Chat v2, Embed v2): translation unit tests, then end-to-end through the
gateway with the official openai SDK against a mock Cohere server."""

from __future__ import annotations

import base64
import struct
from typing import Any

import openai
import orjson
import pytest

from aigw.config import ProviderConfig
from aigw.providers.cohere import chat as cohere
from aigw.providers.cohere.adapter import adapter
from aigw.types import GatewayError
from tests.helpers_providers import assemble, check_chunk_shape, normalise_message, translate_stream
from tests.mock_providers import UPSTREAM_KEY, MockCohere, fake_vector, fixture, fixture_json

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def conf(**kw: Any) -> ProviderConfig:
    return ProviderConfig(name="co", type="cohere", api_key="co-test", **kw)


# --- request translation -------------------------------------------------------------------


def test_request_maps_messages_and_parameters() -> None:
    body = {
        "model": "command",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "max_tokens": 50,
        "seed": 7,
    }
    req = adapter.chat_request(conf(), body, "command-a-03-2025", stream=False)
    assert req.path == "/v2/chat"
    assert req.headers["Authorization"] == "Bearer co-test"
    assert req.body == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Weather?"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "p": 0.9,
        "seed": 7,
        "stop_sequences": ["END"],
    }
    assert adapter.chat_request(conf(), body, "m", stream=True).body["stream"] is True


def test_user_text_parts_keep_their_boundaries() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    out = cohere.to_cohere({"messages": [{"role": "user", "content": parts}]}, "m")
    assert out["messages"][0]["content"] == parts
    one = cohere.to_cohere({"messages": [{"role": "user", "content": parts[:1]}]}, "m")
    assert one["messages"][0]["content"] == "a"


def test_tool_calls_and_results() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Toronto?"},
            {
                "role": "assistant",
                "content": "I will look it up.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "24C"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
    }
    out = cohere.to_cohere(body, "m")
    assert out["tools"] == [WEATHER_TOOL]
    assert out["tool_choice"] == "REQUIRED"
    assert out["messages"][1] == {
        "role": "assistant",
        "tool_calls": body["messages"][1]["tool_calls"],
        "tool_plan": "I will look it up.",
    }
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "24C"}


def test_named_tool_choice_offers_only_that_tool() -> None:
    other = {"type": "function", "function": {"name": "other", "parameters": {}}}
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [other, WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    out = cohere.to_cohere(body, "m")
    assert out["tools"] == [WEATHER_TOOL] and out["tool_choice"] == "REQUIRED"
    body["tool_choice"] = "none"
    assert cohere.to_cohere(body, "m")["tool_choice"] == "NONE"


def test_response_format_and_images() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
    }
    out = cohere.to_cohere(body, "m")
    assert out["response_format"] == {"type": "json_object", "json_schema": {"type": "object"}}
    assert out["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png"},
    }


# --- response translation ------------------------------------------------------------------


def test_text_response_and_billed_usage() -> None:
    out = adapter.chat_response(fixture_json("cohere", "text.json"), "command-a").body
    assert out["object"] == "chat.completion"
    assert out["model"] == "command-a"
    assert out["choices"][0]["message"]["content"].startswith("LLMs stand for Large Language")
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 17, "completion_tokens": 16, "total_tokens": 33}


def test_tool_call_response_carries_the_plan_as_content() -> None:
    out = adapter.chat_response(fixture_json("cohere", "tool_call.json"), "m").body
    msg = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert msg["content"] == "I will look up the weather in Toronto."
    assert msg["tool_calls"] == [
        {
            "id": "get_weather_1byjy32y4hvq",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
        }
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR", "stop"),
        ("complete", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    body = fixture_json("cohere", "text.json") | {"finish_reason": reason}
    assert adapter.chat_response(body, "m").body["choices"][0]["finish_reason"] == finish


def test_usage_falls_back_to_tokens() -> None:
    u = cohere.usage_of({"tokens": {"input_tokens": 5, "output_tokens": 3}})
    assert (u.prompt_tokens, u.completion_tokens) == (5, 3)


# --- stream translation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["text", "tool_call", "parallel_tools", "tool_answer", "max_tokens"]
)
def test_stream_assembles_to_the_non_streamed_answer(name: str) -> None:
    s = adapter.chat_stream("m")
    chunks = translate_stream("cohere", f"{name}.sse", s)
    check_chunk_shape(chunks)
    streamed = assemble(chunks)
    whole = adapter.chat_response(fixture_json("cohere", f"{name}.json"), "m").body
    assert normalise_message(streamed["message"]) == normalise_message(
        whole["choices"][0]["message"]
    )
    assert streamed["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]
    assert s.usage is not None and s.usage.to_openai() == whole["usage"]


def test_stream_parallel_tool_indexes() -> None:
    chunks = translate_stream("cohere", "parallel_tools.sse", adapter.chat_stream("m"))
    deltas = [
        tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or []
    ]
    assert [(d["index"], d["id"]) for d in deltas if d.get("id")] == [
        (0, "get_weather_c8vbhyrzd9ra"),
        (1, "get_weather_5tq3yv8kh0z2"),
    ]
    args: dict[int, str] = {0: "", 1: ""}
    for d in deltas:
        args[d["index"]] += d["function"].get("arguments") or ""
    assert orjson.loads(args[1]) == {"location": "Madrid"}


def test_stream_cut_short_is_an_error() -> None:
    s = adapter.chat_stream("m")
    raw = fixture("cohere", "text.sse").split(b"event: message-end")[0]
    from aigw.providers.common.sse import SSEParser

    for ev, data in SSEParser().feed(raw):
        s.feed(ev, data)
    with pytest.raises(GatewayError) as e:
        s.close()
    assert e.value.status == 502


# --- embeddings ----------------------------------------------------------------------------


def test_embed_request() -> None:
    req = adapter.embeddings_request(conf(), {"input": ["a", "b"], "dimensions": 256}, "embed-v4.0")
    assert req.path == "/v2/embed"
    assert req.body == {
        "model": "embed-v4.0",
        "texts": ["a", "b"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 256,
    }
    q = adapter.embeddings_request(conf(), {"input": "q", "input_type": "search_query"}, "m")
    assert q.body["texts"] == ["q"] and q.body["input_type"] == "search_query"
    with pytest.raises(GatewayError) as e:
        adapter.embeddings_request(conf(), {"input": [[1, 2, 3]]}, "m")
    assert e.value.status == 400
    with pytest.raises(GatewayError):
        adapter.embeddings_request(conf(), {"input": "x", "input_type": "bogus"}, "m")


def test_embed_response_float_and_base64() -> None:
    doc = fixture_json("cohere", "embed.json")
    out = adapter.embeddings_response(doc, "embed-v4.0", {"encoding_format": "float"}).body
    assert out["object"] == "list" and out["model"] == "embed-v4.0"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["data"][0]["embedding"] == doc["embeddings"]["float"][0]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    b64 = adapter.embeddings_response(doc, "m", {"encoding_format": "base64"}).body
    raw = base64.b64decode(b64["data"][1]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(doc["embeddings"]["float"][1], rel=1e-6)


# --- errors --------------------------------------------------------------------------------


def test_error_mapping() -> None:
    e = adapter.error(429, fixture("cohere", "error_rate_limit.json"), {"retry-after": "3"})
    assert (e.status, e.retryable, e.retry_after) == (429, True, 3.0)
    assert "Trial key" in e.message
    e = adapter.error(400, fixture("cohere", "error_invalid_request.json"), {})
    assert (e.status, e.retryable) == (400, False)
    assert e.message.startswith("invalid request")
    for status in (500, 503):
        e = adapter.error(status, fixture("cohere", "error_server.json"), {})
        assert (e.status, e.retryable) == (502, True)


# --- end to end ----------------------------------------------------------------------------

MODELS = {
    "command": "command-text",
    "command-tools": "command-tools",
    "command-parallel": "command-parallel",
    "command-length": "command-length",
    "command-ratelimited": "command-ratelimited",
    "command-invalid": "command-invalid",
    "command-server-error": "command-server-error",
    "embed": "embed-v4.0",
}


@pytest.fixture
async def upstream() -> Any:
    m = MockCohere()
    await m.start()
    yield m
    await m.stop()


def cohere_config(url: str, **provider: Any) -> dict[str, Any]:
    return {
        "providers": {
            "co": {"type": "cohere", "base_url": url, "api_key": UPSTREAM_KEY, **provider}
        },
        "models": {name: {"provider": "co", "model": up} for name, up in MODELS.items()},
        "logging": {"level": "warning"},
        "auth": {"required": False},  # these tests are about the provider, not keys
    }


@pytest.fixture
async def client(upstream: MockCohere, start_gateway: Any) -> openai.AsyncOpenAI:
    gw = await start_gateway(cohere_config(upstream.url))
    return gw.openai()


async def test_e2e_text_with_system_prompt(
    client: openai.AsyncOpenAI, upstream: MockCohere
) -> None:
    r = await client.chat.completions.create(
        model="command",
        messages=[
            {"role": "system", "content": "You explain acronyms."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is an LLM?"},
        ],
        top_p=0.5,
    )
    assert r.choices[0].message.content is not None
    assert r.choices[0].message.content.startswith("LLMs stand for")
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (17, 16)
    (call,) = upstream.calls
    assert call.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert call.body["p"] == 0.5 and "top_p" not in call.body
    assert [m["role"] for m in call.body["messages"]] == ["system", "user", "assistant", "user"]


async def test_e2e_tool_call_round_trip(client: openai.AsyncOpenAI, upstream: MockCohere) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Toronto?"}]
    r = await client.chat.completions.create(
        model="command-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    assert r.choices[0].finish_reason == "tool_calls"
    msg = r.choices[0].message
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert (call.function.name, orjson.loads(call.function.arguments)) == (
        "get_weather",
        {"location": "Toronto"},
    )
    messages.append(msg.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 24}'})
    r2 = await client.chat.completions.create(
        model="command-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    assert r2.choices[0].message.content == "It's 24°C in Toronto right now."
    sent = upstream.calls[1].body["messages"]
    assert sent[1]["tool_plan"] == "I will look up the weather in Toronto."
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 24}'}


async def test_e2e_parallel_tool_calls(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="command-parallel",
        messages=[{"role": "user", "content": "Toronto and Madrid?"}],
        tools=[WEATHER_TOOL],
    )
    calls = r.choices[0].message.tool_calls
    assert calls is not None
    assert [orjson.loads(c.function.arguments)["location"] for c in calls] == ["Toronto", "Madrid"]


@pytest.mark.parametrize(
    ("model", "tools"),
    [
        ("command", None),
        ("command-tools", [WEATHER_TOOL]),
        ("command-parallel", [WEATHER_TOOL]),
        ("command-length", None),
    ],
)
async def test_e2e_stream_equals_non_stream(
    client: openai.AsyncOpenAI, model: str, tools: Any
) -> None:
    kw: dict[str, Any] = {"tools": tools} if tools else {}
    messages: Any = [{"role": "user", "content": "Go"}]
    whole = await client.chat.completions.create(model=model, messages=messages, **kw)
    stream = await client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **kw
    )
    chunks = [c.model_dump() async for c in stream]
    check_chunk_shape(chunks)
    streamed = assemble(chunks)
    assert normalise_message(streamed["message"]) == normalise_message(
        whole.choices[0].message.model_dump(exclude_none=True)
    )
    assert streamed["finish_reason"] == whole.choices[0].finish_reason
    assert whole.usage is not None and streamed["usage"]["total_tokens"] == whole.usage.total_tokens


async def test_e2e_finish_reason_length(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="command-length", messages=[{"role": "user", "content": "Story"}], max_tokens=5
    )
    assert r.choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("model", "exc", "status", "text"),
    [
        ("command-ratelimited", openai.RateLimitError, 429, "Trial key"),
        ("command-invalid", openai.BadRequestError, 400, "invalid request"),
        ("command-server-error", openai.InternalServerError, 502, "internal server error"),
    ],
)
async def test_e2e_error_classes(
    client: openai.AsyncOpenAI, model: str, exc: type, status: int, text: str
) -> None:
    with pytest.raises(exc) as e:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == status
    assert text in e.value.message


async def test_e2e_embeddings_float(client: openai.AsyncOpenAI, upstream: MockCohere) -> None:
    r = await client.embeddings.create(
        model="embed", input=["hello", "goodbye"], encoding_format="float"
    )
    doc = fixture_json("cohere", "embed.json")
    assert [d.embedding for d in r.data] == doc["embeddings"]["float"]
    assert r.usage.prompt_tokens == 2
    assert upstream.calls[0].body["input_type"] == "search_document"
    assert upstream.calls[0].body["embedding_types"] == ["float"]


async def test_e2e_embeddings_base64_default_of_the_sdk(
    client: openai.AsyncOpenAI, upstream: MockCohere
) -> None:
    # The openai SDK asks for base64 when no format is given, and decodes it itself.
    r = await client.embeddings.create(
        model="embed", input="some query", extra_body={"input_type": "search_query"}
    )
    assert r.data[0].embedding == pytest.approx(fake_vector("some query"), rel=1e-6)
    assert upstream.calls[0].body["input_type"] == "search_query"


async def test_e2e_embeddings_rejects_token_input(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="embed", input=[[1, 2, 3]])


async def test_e2e_upstream_key_rejected(upstream: MockCohere, start_gateway: Any) -> None:
    gw = await start_gateway(cohere_config(upstream.url, api_key="co-wrong-key"))
    with pytest.raises(openai.InternalServerError) as e:
        await gw.openai().chat.completions.create(
            model="command", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.code == "upstream_auth_failed"  # the gateway's own message, not Cohere's
    assert "co-wrong-key" not in e.value.response.text
