"""POST /v1/messages: the Anthropic-compatible inbound endpoint. Translation unit tests, then
the official `anthropic` SDK through the gateway to an Anthropic upstream and to OpenAI-type
upstreams."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from aigw.providers.anthropic import inbound
from aigw.providers.anthropic.errors import error_body, error_status
from aigw.types import GatewayError
from tests.mock_providers import UPSTREAM_KEY, MockAnthropic, MockOpenAITools, fixture_json

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}

# --- translation ---------------------------------------------------------------------------


def test_request_to_openai() -> None:
    body = {
        "model": "claude",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "18C"}],
                    },
                    {"type": "text", "text": "And tomorrow?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                ],
            },
        ],
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "tools": [WEATHER],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u1"},
        "stream": True,
    }
    out = inbound.to_openai(body)
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And tomorrow?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            ],
        },
    ]
    assert out["max_tokens"] == 300 and out["stop"] == ["END"] and out["temperature"] == 0.5
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Current weather in a city",
            },
        }
    ]
    assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    assert out["user"] == "u1"
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools.0",
        ),
    ],
)
def test_request_errors(body: dict, text: str) -> None:
    with pytest.raises(GatewayError) as e:
        inbound.to_openai(body)
    assert e.value.status == 400 and text in e.value.message


def test_completion_to_message() -> None:
    msg = inbound.to_message(fixture_json("openai", "tool_call.json"), "gpt-x")
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["model"] == "gpt-x"
    assert msg["id"].startswith("msg_")
    assert msg["content"] == [
        {
            "type": "tool_use",
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "input": {"location": "Paris, France"},
        }
    ]
    assert msg["stop_reason"] == "tool_use"
    answer = inbound.to_message(fixture_json("openai", "tool_answer.json"), "gpt-x")
    assert answer["usage"] == {
        "input_tokens": 34,
        "output_tokens": 11,
        "cache_read_input_tokens": 64,
        "cache_creation_input_tokens": 0,
    }


def test_error_shape() -> None:
    e = GatewayError(503, "anthropic: overloaded: Overloaded", "api_error", "overloaded_error")
    assert error_status(e) == 529
    assert error_body(e)["error"]["type"] == "overloaded_error"
    e = GatewayError(429, "slow down", "rate_limit_error", "rate_limit_exceeded")
    assert error_body(e, "req_1") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
        "request_id": "req_1",
    }
    assert error_body(GatewayError(502, "x", "api_error"))["error"]["type"] == "api_error"


def test_events_for_text_then_tools() -> None:
    ev = inbound.MessageEvents("m")
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Let me look."}}]},
        {
            "id": "c1",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "function": {"name": "f", "arguments": '{"a"'},
                            }
                        ]
                    },
                }
            ],
        },
        {
            "id": "c1",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
                }
            ],
        },
        {
            "id": "c1",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "function": {"name": "g", "arguments": "{}"},
                            }
                        ]
                    },
                }
            ],
        },
        {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]
    events = [e for c in chunks for e in ev.feed(c)] + ev.close()
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert [d["index"] for n, d in events if n == "content_block_start"] == [0, 1, 2]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["input_tokens"] == 9
    assert events[-2][1]["usage"]["output_tokens"] == 4


# --- end to end with the anthropic SDK -----------------------------------------------------


@pytest.fixture
async def claude_upstream() -> Any:
    m = MockAnthropic()
    await m.start()
    yield m
    await m.stop()


@pytest.fixture
async def tools_upstream() -> Any:
    m = MockOpenAITools()
    await m.start()
    yield m
    await m.stop()


def claude_config(claude_url: str, **extra: Any) -> dict[str, Any]:
    """A gateway whose provider `claude` is the Anthropic mock, serving `claude-sonnet`;
    `extra` sections are merged in (providers and models added to these)."""
    cfg: dict[str, Any] = {
        "providers": {
            "claude": {"type": "anthropic", "base_url": claude_url, "api_key": UPSTREAM_KEY}
        },
        "models": {"claude-sonnet": {"provider": "claude", "model": "claude-text"}},
        "logging": {"level": "warning"},
    }
    for k, v in extra.items():
        cfg[k] = {**cfg[k], **v} if isinstance(cfg.get(k), dict) else v
    return cfg


@pytest.fixture
async def gw(
    claude_upstream: MockAnthropic, tools_upstream: MockOpenAITools, mock: Any, start_gateway: Any
) -> Any:
    return await start_gateway(
        claude_config(
            claude_upstream.url,
            providers={
                "oai": {"type": "openai", "base_url": mock.url, "api_key": "sk-upstream-secret"},
                "oai-tools": {
                    "type": "openai",
                    "base_url": tools_upstream.url,
                    "api_key": UPSTREAM_KEY,
                },
            },
            models={
                "claude-tools": {"provider": "claude", "model": "claude-tools"},
                "claude-overloaded": {"provider": "claude", "model": "claude-overloaded"},
                "claude-stream-error": {"provider": "claude", "model": "claude-stream-error"},
                "claude-thinking": {"provider": "claude", "model": "claude-thinking"},
                "claude-ha": {
                    "provider": "claude",
                    "model": "claude-overloaded",
                    "fallbacks": ["gpt-test"],
                },
                "gpt-test": {"provider": "oai", "model": "upstream-model"},
                "gpt-tools": {"provider": "oai-tools", "model": "gpt-4o"},
            },
            auth={"required": False},
        )
    )


def sdk(gw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key="sk-client", max_retries=0)


async def test_anthropic_upstream_text(gw: Any, claude_upstream: MockAnthropic) -> None:
    system: Any = [
        {"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}}
    ]
    msg = await sdk(gw).messages.create(
        model="claude-sonnet",
        max_tokens=100,
        system=system,
        extra_body={"top_k": 5},
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello! I'm Claude. How can I help you today?"
    assert msg.stop_reason == "end_turn"
    assert msg.model == "claude-sonnet"
    assert msg.id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    # The upstream's own usage, cache writes included (translation could not tell them apart).
    u = msg.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        21,
        100,
        7,
    )
    assert u.output_tokens == 14
    # Anthropic to Anthropic: the request went as it came, Anthropic-only fields and all.
    sent = claude_upstream.calls[0].body
    assert sent["system"] == system and sent["top_k"] == 5 and sent["max_tokens"] == 100
    assert sent["model"] == "claude-text" and "stream" not in sent


async def test_anthropic_upstream_stream(gw: Any, claude_upstream: MockAnthropic) -> None:
    client = sdk(gw)
    kw: Any = {
        "model": "claude-sonnet",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    whole = await client.messages.create(**kw)
    texts: list[str] = []
    async with client.messages.stream(**kw) as stream:
        async for text in stream.text_stream:
            texts.append(text)
        final = await stream.get_final_message()
    assert len(texts) == 3
    assert "".join(texts) == whole.content[0].text  # type: ignore[union-attr]
    assert final.model_dump() == whole.model_dump()
    assert claude_upstream.calls[-1].body["stream"] is True


async def test_anthropic_upstream_thinking_and_stop_sequence(
    gw: Any, claude_upstream: MockAnthropic
) -> None:
    client = sdk(gw)
    kw: Any = {
        "model": "claude-thinking",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stop_sequences": ["###"],
        "messages": [{"role": "user", "content": "Pick a number from 1 to 3."}],
    }
    whole = await client.messages.create(**kw)
    assert [b.type for b in whole.content] == ["thinking", "text"]
    assert whole.content[0].signature.startswith("EqQB")  # type: ignore[union-attr]
    assert (whole.stop_reason, whole.stop_sequence) == ("stop_sequence", "###")
    async with client.messages.stream(**kw) as s:
        final = await s.get_final_message()
    assert final.model_dump() == whole.model_dump()
    assert claude_upstream.calls[0].body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    # The same conversation continued, thinking block sent back as Anthropic requires.
    kw["messages"] += [
        {"role": "assistant", "content": [b.model_dump() for b in whole.content]},
        {"role": "user", "content": "Again."},
    ]
    await client.messages.create(**kw)
    assert claude_upstream.calls[-1].body["messages"][1]["content"][0]["type"] == "thinking"


async def test_anthropic_upstream_tool_use_round_trip(
    gw: Any, claude_upstream: MockAnthropic
) -> None:
    client = sdk(gw)
    messages: list[Any] = [{"role": "user", "content": "Weather in SF?"}]
    msg = await client.messages.create(
        model="claude-tools", max_tokens=200, tools=[WEATHER], messages=messages
    )  # type: ignore[list-item]
    assert msg.stop_reason == "tool_use"
    tool = next(b for b in msg.content if b.type == "tool_use")
    assert (tool.name, tool.input) == (
        "get_weather",
        {"location": "San Francisco, CA", "unit": "celsius"},
    )  # type: ignore[union-attr]
    assert tool.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"  # type: ignore[union-attr]
    messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "15C"}],
        }
    )  # type: ignore[union-attr]
    # Streamed this time: the answer to the tool result.
    async with client.messages.stream(
        model="claude-tools", max_tokens=200, tools=[WEATHER], messages=messages
    ) as s:  # type: ignore[arg-type]
        final = await s.get_final_message()
    assert final.content[0].text == "It's currently 15°C and foggy in San Francisco."  # type: ignore[union-attr]
    last = claude_upstream.calls[-1].body["messages"]
    assert last[-1]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": tool.id,
        "content": "15C",
    }  # type: ignore[union-attr]


async def test_anthropic_upstream_stream_tool_use(gw: Any) -> None:
    async with sdk(gw).messages.stream(
        model="claude-tools",
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "SF?"}],  # type: ignore[list-item]
    ) as s:
        final = await s.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"location": "San Francisco, CA", "unit": "celsius"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"


async def test_openai_upstream_text_and_stream(gw: Any, mock: Any) -> None:
    client = sdk(gw)
    kw: Any = {
        "model": "gpt-test",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello there"}],
    }
    msg = await client.messages.create(**kw)
    assert msg.content[0].text == mock.text  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 0 and msg.usage.input_tokens > 0
    async with client.messages.stream(**kw) as s:
        streamed = "".join([t async for t in s.text_stream])
        final = await s.get_final_message()
    assert streamed == mock.text
    assert final.usage.output_tokens == msg.usage.output_tokens
    assert final.usage.input_tokens == msg.usage.input_tokens
    sent = mock.calls[0]["body"]
    assert sent["messages"] == [{"role": "user", "content": "Hello there"}]
    assert sent["max_tokens"] == 50


async def test_openai_upstream_tool_use_round_trip(
    gw: Any, tools_upstream: MockOpenAITools
) -> None:
    client = sdk(gw)
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with client.messages.stream(
        model="gpt-tools", max_tokens=200, tools=[WEATHER], messages=messages
    ) as s:  # type: ignore[arg-type]
        first = await s.get_final_message()
    whole = await client.messages.create(
        model="gpt-tools", max_tokens=200, tools=[WEATHER], messages=messages
    )  # type: ignore[arg-type]
    for m in (first, whole):
        assert m.stop_reason == "tool_use"
        (tool,) = m.content
        assert tool.type == "tool_use" and tool.name == "get_weather"
        assert tool.input == {"location": "Paris, France"}
        assert tool.id == "call_DdmO9pD3xa9XTPNJ32zg2hcA"
    messages.append({"role": "assistant", "content": [b.model_dump() for b in whole.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": whole.content[0].id, "content": "18C, sunny"}
            ],
        }
    )  # type: ignore[union-attr]
    answer = await client.messages.create(
        model="gpt-tools", max_tokens=200, tools=[WEATHER], messages=messages
    )  # type: ignore[arg-type]
    assert answer.content[0].text == "It is 18°C and sunny in Paris."  # type: ignore[union-attr]
    assert answer.usage.cache_read_input_tokens == 64
    sent = tools_upstream.calls[-1].body["messages"]
    assert sent[-1] == {
        "role": "tool",
        "tool_call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
        "content": "18C, sunny",
    }


async def test_errors_in_anthropic_shape(gw: Any) -> None:
    client = sdk(gw)
    with pytest.raises(anthropic.OverloadedError) as e:
        await client.messages.create(
            model="claude-overloaded", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 529
    assert e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert "Overloaded" in e.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as nf:
        await client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert nf.value.body["type"] == "error"  # type: ignore[index]
    assert nf.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    r = await gw.http.post(gw.url + "/v1/messages", data=b"{not json")
    assert r.status == 400
    assert (await r.json())["error"]["type"] == "invalid_request_error"
    r = await gw.http.post(gw.url + "/v1/messages", json={"model": "claude-sonnet", "messages": []})
    body = await r.json()
    assert r.status == 400 and body["type"] == "error" and "max_tokens" in body["error"]["message"]


async def test_stream_error_event(gw: Any) -> None:
    raw = await gw.http.post(
        gw.url + "/v1/messages",
        json={
            "model": "claude-stream-error",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    text = (await raw.read()).decode()
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[0] == "message_start" and names[-1] == "error"
    data = orjson.loads(events[-1][1].removeprefix("data: "))
    assert data["error"]["type"] == "overloaded_error"
    assert "message_stop" not in names


async def test_overloaded_anthropic_fails_over_to_openai_upstream(
    gw: Any, claude_upstream: MockAnthropic, mock: Any
) -> None:
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    msg = await sdk(gw).messages.create(
        model="claude-ha",
        max_tokens=50,
        system=system,
        extra_body={"top_k": 3},
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert msg.content[0].text == mock.text  # type: ignore[union-attr]
    # The Anthropic upstream got the client's own request; the OpenAI one a clean OpenAI body.
    assert claude_upstream.calls[0].body["system"] == system
    sent = mock.calls[0]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert "top_k" not in sent and "system" not in sent
    # The same failover for an OpenAI client, streamed.
    oa = gw.openai()
    stream = await oa.chat.completions.create(
        model="claude-ha", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == mock.text
    assert len(claude_upstream.calls) == 2


async def test_auth_applies_and_answers_in_anthropic_shape(
    claude_upstream: MockAnthropic, start_gateway: Any
) -> None:
    gw = await start_gateway(claude_config(claude_upstream.url))
    # The anthropic SDK sends its key as x-api-key: an unknown one is refused before routing.
    with pytest.raises(anthropic.AuthenticationError) as e:
        await sdk(gw).messages.create(
            model="claude-sonnet", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 401
    assert e.value.body["type"] == "error"  # type: ignore[index]
    assert e.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "sk-client" not in str(e.value.body)
    with pytest.raises(anthropic.AuthenticationError):  # counting tokens needs a key too
        await sdk(gw).messages.count_tokens(
            model="claude-sonnet", messages=[{"role": "user", "content": "x"}]
        )
    assert claude_upstream.calls == []


async def test_messages_are_cached_when_translated_never_when_native(
    claude_upstream: MockAnthropic, mock: Any, start_gateway: Any
) -> None:
    gw = await start_gateway(
        claude_config(
            claude_upstream.url,
            providers={
                "oai": {"type": "openai", "base_url": mock.url, "api_key": "sk-upstream-secret"}
            },
            models={"gpt-test": {"provider": "oai", "model": "upstream-model"}},
            cache={"enabled": True, "semantic": {"enabled": False}},
            auth={"required": False},
        )
    )
    client = sdk(gw)
    kw: Any = {
        "model": "gpt-test",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello there"}],
    }
    # An OpenAI-type upstream: the translated answer is stored, then served to JSON and
    # stream requests alike, the same message each time.
    first = await client.messages.with_raw_response.create(**kw)
    again = await client.messages.with_raw_response.create(**kw)
    assert first.headers["x-aigw-cache"] == "miss" and again.headers["x-aigw-cache"] == "hit"
    a, b = await first.parse(), await again.parse()
    assert b.content == a.content and b.usage.output_tokens == a.usage.output_tokens
    async with client.messages.stream(**kw) as s:
        streamed = "".join([t async for t in s.text_stream])
    assert streamed == mock.text
    assert mock.count == 1
    # Every field of the Anthropic request is part of the key: another top_k is another
    # question; who asks (metadata) is not.
    await client.messages.create(**kw, extra_body={"top_k": 3})
    assert mock.count == 2
    hit = await client.messages.with_raw_response.create(**kw, metadata={"user_id": "u-7"})
    assert hit.headers["x-aigw-cache"] == "hit" and mock.count == 2

    # An Anthropic upstream's own answers pass through and are never replaced from the cache.
    native: Any = {**kw, "model": "claude-sonnet"}
    for _ in range(2):
        r = await client.messages.with_raw_response.create(**native)
        assert r.headers["x-aigw-cache"] == "miss"
        assert (await r.parse()).id == "msg_01XFDUDYJgAACzvnptvVoYEL"  # the upstream's own
    async with client.messages.stream(**native) as s:
        await s.get_final_message()
    assert len(claude_upstream.calls) == 3


async def test_count_tokens_exact_from_anthropic_estimated_elsewhere(
    gw: Any, claude_upstream: MockAnthropic
) -> None:
    client = sdk(gw)
    messages: Any = [{"role": "user", "content": "How many tokens is this question, roughly?"}]
    # A model on an Anthropic upstream: the provider's own count, passed on.
    r = await client.messages.with_raw_response.count_tokens(
        model="claude-sonnet", messages=messages, system="Be brief."
    )
    assert r.headers["x-aigw-token-count"] == "upstream"
    assert (await r.parse()).input_tokens == 1000 + 7  # the mock counts words, plus 1000
    sent = claude_upstream.calls[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == "claude-text" and sent.body["system"] == "Be brief."
    # Any other model: an estimate, and the header says so.
    r = await client.messages.with_raw_response.count_tokens(model="gpt-test", messages=messages)
    assert r.headers["x-aigw-token-count"] == "estimate"
    n = (await r.parse()).input_tokens
    assert 10 <= n <= 30  # 44 characters: about 11 tokens, plus per-message framing
    # Errors in Anthropic's shape: an unknown model, a malformed request.
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="nope", messages=messages)
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.count_tokens(model="gpt-test", messages="hi")  # type: ignore[arg-type]
