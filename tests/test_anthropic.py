"""Anthropic provider: translation unit tests, then end-to-end through the gateway with the
official openai SDK against a mock Anthropic server replaying documented bodies and streams."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from aigw.providers.anthropic.adapter import adapter
from aigw.providers.anthropic.request import to_anthropic
from aigw.providers.anthropic.settings import AnthropicSettings
from aigw.types import GatewayError
from tests.helpers_providers import assemble, check_chunk_shape, normalise_message, translate_stream
from tests.mock_providers import UPSTREAM_KEY, MockAnthropic, fixture, fixture_json

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
    },
}


def conf(**kw: Any) -> AnthropicSettings:
    return AnthropicSettings(name="claude", type="anthropic", api_key="sk-ant-test", **kw)


# --- request translation -------------------------------------------------------------------


def test_request_lifts_system_and_maps_parameters() -> None:
    body = {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "user": "u-42",
    }
    req = adapter.chat_request(conf(), body, "claude-sonnet-4-5", stream=False)
    assert req.path == "/v1/messages"
    assert req.body == {
        "model": "claude-sonnet-4-5",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ],
        "max_tokens": 4096,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }
    assert "stream" not in req.body
    assert adapter.chat_request(conf(), body, "m", stream=True).body["stream"] is True


def test_request_headers_and_version_override() -> None:
    h = adapter.chat_request(conf(), {"messages": []}, "m", False).headers
    assert h["x-api-key"] == "sk-ant-test"
    assert h["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in h
    h2 = adapter.chat_request(conf(api_version="2024-01-01"), {"messages": []}, "m", False).headers
    assert h2["anthropic-version"] == "2024-01-01"


def test_max_tokens_from_client_or_config() -> None:
    msgs = [{"role": "user", "content": "x"}]
    assert to_anthropic({"messages": msgs, "max_tokens": 50}, "m", 9)["max_tokens"] == 50
    body = {"messages": msgs, "max_completion_tokens": 70}
    assert to_anthropic(body, "m", 9)["max_tokens"] == 70
    assert to_anthropic({"messages": msgs}, "m", 9)["max_tokens"] == 9
    req = adapter.chat_request(conf(default_max_tokens=123), {"messages": msgs}, "m", False)
    assert req.body["max_tokens"] == 123


def test_empty_turns_are_dropped_and_neighbours_merged() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "two"},
        ]
    }
    assert to_anthropic(body, "m", 10)["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


def test_several_system_messages_become_blocks() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "One."},
            {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
            {"role": "user", "content": "x"},
        ]
    }
    out = to_anthropic(body, "m", 10)
    assert out["system"] == [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]
    assert [m["role"] for m in out["messages"]] == ["user"]


def test_tools_tool_calls_and_parallel_results() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Weather and time in SF?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "SF"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "15C, fog"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "09:00"}],
            },
            {"role": "user", "content": "Thanks, summarise."},
        ],
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    out = to_anthropic(body, "m", 10)
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        },
        {"name": "get_time", "input_schema": TIME_TOOL["function"]["parameters"]},
    ]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "call_1",
                "name": "get_weather",
                "input": {"location": "SF"},
            },
            {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
        ],
    }
    # Both results and the follow-up text in ONE user turn, results first.
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "15C, fog"},
            {
                "type": "tool_result",
                "tool_use_id": "call_2",
                "content": [{"type": "text", "text": "09:00"}],
            },
            {"type": "text", "text": "Thanks, summarise."},
        ],
    }
    assert len(out["messages"]) == 3


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": choice,
    }
    assert to_anthropic(body, "m", 10)["tool_choice"] == expected


def test_tool_choice_none_keeps_tools() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "none",
    }
    out = to_anthropic(body, "m", 10)
    assert out["tool_choice"] == {"type": "none"} and len(out["tools"]) == 1


def test_images() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ]
    }
    content = to_anthropic(body, "m", 10)["messages"][0]["content"]
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
    }
    assert content[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.png"},
    }


def test_rejects_what_anthropic_cannot_do() -> None:
    with pytest.raises(GatewayError) as e:
        to_anthropic({"messages": [{"role": "user", "content": "x"}], "n": 2}, "m", 10)
    assert e.value.status == 400 and e.value.param == "n"
    bad_args = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{not json"}}],
            }
        ]
    }
    with pytest.raises(GatewayError) as e:
        to_anthropic(bad_args, "m", 10)
    assert e.value.status == 400
    with pytest.raises(GatewayError) as e:
        adapter.embeddings_request(conf(), {"model": "claude", "input": "x"}, "m")
    assert e.value.status == 400 and not e.value.retryable


# --- response translation ------------------------------------------------------------------


def test_text_response_and_cache_usage() -> None:
    out = adapter.chat_response(fixture_json("anthropic", "text.json"), "claude-x").body
    assert out["object"] == "chat.completion"
    assert out["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert out["model"] == "claude-sonnet-4-5-20250929"
    choice = out["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello! I'm Claude. How can I help you today?",
        "refusal": None,
    }
    assert choice["finish_reason"] == "stop"
    # input 21 + cache read 100 + cache write 7: OpenAI counts every prompt token.
    assert out["usage"] == {
        "prompt_tokens": 128,
        "completion_tokens": 14,
        "total_tokens": 142,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_tool_use_response() -> None:
    out = adapter.chat_response(fixture_json("anthropic", "tool_use.json"), "m").body
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert (
        choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    )
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {
        "location": "San Francisco, CA",
        "unit": "celsius",
    }


def test_parallel_tool_use_response_has_no_text() -> None:
    out = adapter.chat_response(fixture_json("anthropic", "parallel_tools.json"), "m").body
    msg = out["choices"][0]["message"]
    assert msg["content"] is None
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather", "get_time"]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reasons(stop: str, finish: str) -> None:
    body = fixture_json("anthropic", "text.json") | {"stop_reason": stop}
    assert adapter.chat_response(body, "m").body["choices"][0]["finish_reason"] == finish


# --- stream translation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["text", "tool_use", "parallel_tools", "tool_answer", "max_tokens"]
)
def test_stream_assembles_to_the_non_streamed_answer(name: str) -> None:
    chunks = translate_stream("anthropic", f"{name}.sse", adapter.chat_stream("m"))
    check_chunk_shape(chunks)
    streamed = assemble(chunks)
    whole = adapter.chat_response(fixture_json("anthropic", f"{name}.json"), "m").body
    assert normalise_message(streamed["message"]) == normalise_message(
        whole["choices"][0]["message"]
    )
    assert streamed["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]


def test_stream_tool_deltas_have_stable_indexes() -> None:
    chunks = translate_stream("anthropic", "parallel_tools.sse", adapter.chat_stream("m"))
    deltas = [
        tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or []
    ]
    starts = [d for d in deltas if d.get("id")]
    assert [(d["index"], d["function"]["name"]) for d in starts] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    # Every argument piece names the index of the call it belongs to.
    pieces = {0: "", 1: ""}
    for d in deltas:
        pieces[d["index"]] += d["function"].get("arguments") or ""
    assert orjson.loads(pieces[0]) == {"location": "San Francisco, CA"}
    assert orjson.loads(pieces[1]) == {"timezone": "America/Los_Angeles"}


def test_stream_tool_without_arguments_gets_empty_object() -> None:
    s = adapter.chat_stream("m")
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 3}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "now", "input": {}},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    chunks = [c for e in events for c in s.feed(e["type"], orjson.dumps(e))]
    msg = assemble(chunks)["message"]
    assert msg["tool_calls"][0]["function"]["arguments"] == "{}"
    assert s.usage is not None and (s.usage.prompt_tokens, s.usage.completion_tokens) == (3, 5)


def test_stream_error_event_raises_retryable_error() -> None:
    with pytest.raises(GatewayError) as e:
        translate_stream("anthropic", "stream_error.sse", adapter.chat_stream("m"))
    assert e.value.status == 503
    assert e.value.retryable
    assert "Overloaded" in e.value.message


def test_stream_cut_short_is_an_error() -> None:
    s = adapter.chat_stream("m")
    raw = fixture("anthropic", "text.sse").split(b"event: message_delta")[0]
    from aigw.providers.common.sse import SSEParser

    chunks = [c for ev, data in SSEParser().feed(raw) for c in s.feed(ev, data)]
    assert assemble(chunks)["message"]["content"].startswith("Hello")
    with pytest.raises(GatewayError) as e:
        s.close()
    assert e.value.status == 502


# --- errors --------------------------------------------------------------------------------


def test_error_mapping() -> None:
    e = adapter.error(529, fixture("anthropic", "error_overloaded.json"), {})
    assert (e.status, e.retryable, e.code) == (503, True, "overloaded_error")
    assert "Overloaded" in e.message
    e = adapter.error(429, fixture("anthropic", "error_rate_limit.json"), {"retry-after": "7"})
    assert (e.status, e.retryable, e.retry_after) == (429, True, 7.0)
    assert "per-minute rate limit" in e.message
    e = adapter.error(400, fixture("anthropic", "error_invalid_request.json"), {})
    assert (e.status, e.retryable, e.type) == (400, False, "invalid_request_error")
    assert e.message.startswith("prompt is too long")
    e = adapter.error(500, fixture("anthropic", "error_api.json"), {})
    assert (e.status, e.retryable) == (502, True)
    e = adapter.error(502, b"<html>bad gateway</html>", {})
    assert (e.status, e.retryable) == (502, True)
    assert "bad gateway" in e.message


# --- end to end: the openai SDK through the gateway to the mock Anthropic ------------------

MODELS = {
    "claude": "claude-text",
    "claude-tools": "claude-tools",
    "claude-parallel": "claude-parallel",
    "claude-length": "claude-length",
    "claude-overloaded": "claude-overloaded",
    "claude-ratelimited": "claude-ratelimited",
    "claude-invalid": "claude-invalid",
    "claude-server-error": "claude-server-error",
    "claude-stream-error": "claude-stream-error",
    "claude-missing": "claude-does-not-exist",
    "claude-thinking": "claude-thinking",
}


@pytest.fixture
async def upstream() -> Any:
    m = MockAnthropic()
    await m.start()
    yield m
    await m.stop()


def anthropic_config(url: str, **provider: Any) -> dict[str, Any]:
    return {
        "providers": {
            "claude": {"type": "anthropic", "base_url": url, "api_key": UPSTREAM_KEY, **provider}
        },
        "models": {name: {"provider": "claude", "model": up} for name, up in MODELS.items()},
        "logging": {"level": "warning"},
        "auth": {"required": False},  # these tests are about the provider, not keys
    }


@pytest.fixture
async def client(upstream: MockAnthropic, start_gateway: Any) -> openai.AsyncOpenAI:
    gw = await start_gateway(anthropic_config(upstream.url))
    return gw.openai()


async def test_e2e_text_with_system_prompt_and_history(
    client: openai.AsyncOpenAI, upstream: MockAnthropic
) -> None:
    r = await client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "You are Claude."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello there."},
            {"role": "user", "content": "Who are you?"},
        ],
        max_tokens=200,
    )
    assert r.choices[0].message.content == "Hello! I'm Claude. How can I help you today?"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        128,
        14,
        142,
    )
    assert r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 100
    (call,) = upstream.calls
    assert call.path == "/v1/messages"
    assert call.headers["x-api-key"] == UPSTREAM_KEY
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.body["system"] == "You are Claude."
    assert call.body["max_tokens"] == 200
    assert [m["role"] for m in call.body["messages"]] == ["user", "assistant", "user"]
    assert call.body["model"] == "claude-text"


async def test_e2e_tool_call_round_trip(
    client: openai.AsyncOpenAI, upstream: MockAnthropic
) -> None:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in SF?"}]
    r = await client.chat.completions.create(
        model="claude-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    args = orjson.loads(call.function.arguments)
    assert args == {"location": "San Francisco, CA", "unit": "celsius"}
    messages.append(msg.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "15 C, foggy"})
    r2 = await client.chat.completions.create(
        model="claude-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    assert r2.choices[0].message.content == "It's currently 15°C and foggy in San Francisco."
    assert r2.choices[0].finish_reason == "stop"
    # The mock accepted the second request, so the tool_result answered the tool_use.
    sent = upstream.calls[1].body["messages"]
    assert sent[1]["content"][-1]["type"] == "tool_use"
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": call.id, "content": "15 C, foggy"}
    ]


async def test_e2e_parallel_tool_calls(client: openai.AsyncOpenAI, upstream: MockAnthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather and time in SF?"}]
    r = await client.chat.completions.create(
        model="claude-parallel", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    calls = r.choices[0].message.tool_calls
    assert calls is not None
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    messages.append(r.choices[0].message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "15 C"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "09:00"},
    ]
    r2 = await client.chat.completions.create(
        model="claude-parallel", messages=messages, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    assert r2.choices[0].finish_reason == "stop"
    results = upstream.calls[1].body["messages"][2]["content"]
    assert [b["tool_use_id"] for b in results] == [calls[0].id, calls[1].id]


@pytest.mark.parametrize(
    ("model", "tools"),
    [
        ("claude", None),
        ("claude-tools", [WEATHER_TOOL]),
        ("claude-parallel", [WEATHER_TOOL, TIME_TOOL]),
        ("claude-length", None),
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
    assert (
        whole.usage is not None and streamed["usage"]["prompt_tokens"] == whole.usage.prompt_tokens
    )
    assert streamed["usage"]["completion_tokens"] == whole.usage.completion_tokens


async def test_e2e_stream_without_include_usage_has_no_usage_chunk(
    client: openai.AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "Go"}], stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_e2e_finish_reason_length(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="claude-length", messages=[{"role": "user", "content": "Tell a story"}], max_tokens=10
    )
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "Once upon a time, in a land far"


@pytest.mark.parametrize(
    ("model", "exc", "status", "text"),
    [
        ("claude-overloaded", openai.InternalServerError, 503, "Overloaded"),
        ("claude-ratelimited", openai.RateLimitError, 429, "rate limit"),
        ("claude-invalid", openai.BadRequestError, 400, "prompt is too long"),
        ("claude-server-error", openai.InternalServerError, 502, "Internal server error"),
        ("claude-missing", openai.NotFoundError, 404, "claude-nonexistent"),
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
    assert UPSTREAM_KEY not in e.value.response.text


async def test_e2e_rate_limit_carries_retry_after(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        await client.chat.completions.create(
            model="claude-ratelimited", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.response.headers["retry-after"] == "7"


async def test_e2e_upstream_key_rejected(upstream: MockAnthropic, start_gateway: Any) -> None:
    gw = await start_gateway(anthropic_config(upstream.url, api_key="sk-wrong"))
    with pytest.raises(openai.InternalServerError) as e:
        await gw.openai().chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}]
        )
    assert "sk-wrong" not in e.value.response.text


async def test_e2e_stream_error_event_reaches_the_client(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="claude-stream-error", messages=[{"role": "user", "content": "x"}], stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as e:
        async for c in stream:
            if c.choices and c.choices[0].delta.content:
                seen.append(c.choices[0].delta.content)
    assert "".join(seen) == "Let me think"
    assert "Overloaded" in e.value.message


async def test_e2e_embeddings_not_offered(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        await client.embeddings.create(model="claude", input="hello")
    assert "no embeddings" in e.value.message


async def test_e2e_thinking_reaches_openai_clients_as_reasoning(client: openai.AsyncOpenAI) -> None:
    r = await client.chat.completions.create(
        model="claude-thinking", messages=[{"role": "user", "content": "1 to 3?"}]
    )
    msg = r.choices[0].message.model_dump()
    assert msg["content"] == "2"
    assert msg["reasoning_content"].startswith("The user wants a number")
    assert r.choices[0].finish_reason == "stop"
    stream = await client.chat.completions.create(
        model="claude-thinking", messages=[{"role": "user", "content": "1 to 3?"}], stream=True
    )
    streamed = assemble([c.model_dump() async for c in stream])
    assert streamed["message"]["reasoning_content"] == msg["reasoning_content"]
    assert streamed["message"]["content"] == "2"


@pytest.mark.parametrize(
    ("model", "exc", "status"),
    [
        ("claude-overloaded", openai.InternalServerError, 503),
        ("claude-ratelimited", openai.RateLimitError, 429),
        ("claude-invalid", openai.BadRequestError, 400),
    ],
)
async def test_e2e_stream_request_errors_before_the_first_event(
    client: openai.AsyncOpenAI, model: str, exc: type, status: int
) -> None:
    with pytest.raises(exc) as e:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert e.value.status_code == status
