"""/v1/responses end to end with the official openai SDK: an OpenAI upstream answering its
own Responses API (native pass-through), and Anthropic, Cohere and a chat-only OpenAI
upstream reached by translation; real mock servers on loopback speaking each format."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import orjson
import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI
from tests.mock_providers import UPSTREAM_KEY, MockAnthropic, MockCohere

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
CLAUDE_TEXT = "Hello! I'm Claude. How can I help you today?"
COHERE_TEXT = "LLMs stand for Large Language Models, which are a type of neural network model."


@pytest.fixture
async def claude() -> Any:
    m = MockAnthropic()
    await m.start()
    yield m
    await m.stop()


@pytest.fixture
async def cohere() -> Any:
    m = MockCohere()
    await m.start()
    yield m
    await m.stop()


def config(mock: MockOpenAI, claude: MockAnthropic, cohere: MockCohere, **extra: Any) -> dict:
    cfg: dict[str, Any] = {
        "providers": {
            "oa": {
                "type": "openai",
                "base_url": mock.url,
                "api_key": UPSTREAM_KEY,
                "native_responses": True,
            },
            "oa-chat": {"type": "openai", "base_url": mock.url, "api_key": UPSTREAM_KEY},
            "claude": {"type": "anthropic", "base_url": claude.url, "api_key": UPSTREAM_KEY},
            "co": {"type": "cohere", "base_url": cohere.url, "api_key": UPSTREAM_KEY},
        },
        "models": {
            "gpt-r": {"provider": "oa", "model": "upstream-model"},
            "gpt-chat": {"provider": "oa-chat", "model": "upstream-model"},
            "claude-text": {"provider": "claude", "model": "claude-text"},
            "claude-tools": {"provider": "claude", "model": "claude-tools"},
            "claude-stream-error": {"provider": "claude", "model": "claude-stream-error"},
            "claude-thinking": {"provider": "claude", "model": "claude-thinking"},
            "command-text": {"provider": "co", "model": "command-text"},
            "command-tools": {"provider": "co", "model": "command-tools"},
            "conv": {"provider": "oa", "model": "upstream-model", "fallbacks": ["claude-text"]},
        },
        "logging": {"level": "warning"},
        "auth": {"required": False},
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
async def gw(mock: MockOpenAI, claude: Any, cohere: Any, start_gateway: Any) -> Any:
    return await start_gateway(config(mock, claude, cohere))


TEXT = {"gpt-r": None, "gpt-chat": None, "claude-text": CLAUDE_TEXT, "command-text": COHERE_TEXT}


@pytest.mark.parametrize("model", list(TEXT))
async def test_text_create_retrieve_items_delete(gw: Any, mock: MockOpenAI, model: str) -> None:
    client = gw.openai()
    r = await client.responses.create(
        model=model,
        input="What is an LLM?",
        instructions="Be brief.",
        metadata={"ticket": "42"},
        max_output_tokens=200,
        temperature=0.5,
    )
    expected = TEXT[model] or mock.text
    assert r.object == "response" and r.id.startswith("resp_") and r.status == "completed"
    assert r.output_text == expected
    assert r.model == model and r.instructions == "Be brief." and r.metadata == {"ticket": "42"}
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.output_tokens_details.reasoning_tokens == 0
    if model == "gpt-r":  # the upstream got the Responses request itself, stateless
        call = mock.calls[-1]
        assert call["path"] == "/v1/responses" and call["body"]["store"] is False
        assert call["body"]["instructions"] == "Be brief."
        assert call["body"]["input"][0]["content"][0]["text"] == "What is an LLM?"
    if model == "gpt-chat":
        call = mock.calls[-1]
        assert call["path"] == "/v1/chat/completions"
        assert call["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
        assert call["body"]["max_completion_tokens"] == 200
    got = await client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == expected
    items = await client.responses.input_items.list(r.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "What is an LLM?"  # type: ignore[union-attr]
    deleted = await client.responses.delete(r.id)
    assert deleted is None  # the SDK returns nothing for a 200
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(r.id)


@pytest.mark.parametrize("model", list(TEXT))
async def test_stream_helper_accepts_the_events(gw: Any, mock: MockOpenAI, model: str) -> None:
    client = gw.openai()
    deltas: list[str] = []
    types: list[str] = []
    async with client.responses.stream(model=model, input="What is an LLM?") as stream:
        async for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    expected = TEXT[model] or mock.text
    assert "".join(deltas) == expected == final.output_text
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for kind in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert kind in types
    assert final.usage is not None and final.usage.output_tokens > 0
    stored = await client.responses.retrieve(final.id)  # a stream is stored too
    assert stored.output_text == expected


async def test_raw_events_are_numbered_and_named(gw: Any) -> None:
    r = await gw.http.post(
        gw.url + "/v1/responses", json={"model": "claude-text", "input": "hi", "stream": True}
    )
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    raw = (await r.read()).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        name, data = block.split("\n")
        ev = json.loads(data.removeprefix("data: "))
        assert name == "event: " + ev["type"]
        events.append(ev)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["response"]["status"] == "completed"
    assert "[DONE]" not in raw


@pytest.mark.parametrize("model", ["gpt-r", "claude-tools", "command-tools"])
async def test_tool_call_round_trip(
    gw: Any, mock: MockOpenAI, claude: Any, cohere: Any, model: str
) -> None:
    client = gw.openai()
    r1 = await client.responses.create(
        model=model, input="Weather in Paris?", tools=[WEATHER], tool_choice="auto"
    )
    calls = [o for o in r1.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    args = json.loads(calls[0].arguments)
    assert "location" in args
    r2 = await client.responses.create(
        model=model,
        previous_response_id=r1.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C"}],
        tools=[WEATHER],
    )
    assert r2.status == "completed" and r2.output_text
    assert r2.previous_response_id == r1.id
    if model == "gpt-r":
        sent = mock.calls[-1]["body"]["input"]
        assert [i.get("type", "message") for i in sent] == [
            "message",
            "function_call",
            "function_call_output",
        ]
        assert sent[1]["call_id"] == sent[2]["call_id"] == calls[0].call_id
        assert "18C" in r2.output_text
    elif model == "claude-tools":
        last = claude.calls[-1].body["messages"]
        # The answer's text and its call are one assistant turn, the result the next user turn.
        assert [b["type"] for b in last[1]["content"]] == ["text", "tool_use"]
        assert last[1]["content"][1]["id"] == calls[0].call_id
        assert last[2]["content"] == [
            {"type": "tool_result", "tool_use_id": calls[0].call_id, "content": "18C"}
        ]
    else:
        last = cohere.calls[-1].body["messages"]
        assert last[-1]["role"] == "tool" and last[-1]["tool_call_id"] == calls[0].call_id


async def test_tool_call_streamed(gw: Any) -> None:
    client = gw.openai()
    args: list[str] = []
    async with client.responses.stream(
        model="claude-tools", input="Weather?", tools=[WEATHER]
    ) as stream:
        async for event in stream:
            if event.type == "response.function_call_arguments.delta":
                args.append(event.delta)
        final = await stream.get_final_response()
    call = next(o for o in final.output if o.type == "function_call")
    assert "".join(args) == call.arguments and json.loads(call.arguments)["location"]


SCHEMA = {
    "type": "json_schema",
    "name": "answer",
    "schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "string"}},
        "required": ["city", "temp"],
        "additionalProperties": False,
    },
    "strict": True,
}


async def test_json_schema_output(gw: Any, mock: MockOpenAI, cohere: Any) -> None:
    client = gw.openai()
    r = await client.responses.create(
        model="gpt-r",
        input="Weather?",
        text={"format": SCHEMA},  # type: ignore[arg-type]
    )
    assert json.loads(r.output_text) == {"city": "mock", "temp": "mock"}
    assert mock.calls[-1]["body"]["text"]["format"]["name"] == "answer"
    assert r.text.format.type == "json_schema"  # type: ignore[union-attr]
    # Translated: the chat body carries the schema as response_format.
    await client.responses.create(model="gpt-chat", input="W?", text={"format": SCHEMA})  # type: ignore[arg-type]
    rf = mock.calls[-1]["body"]["response_format"]
    assert rf == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA["schema"], "strict": True},
    }
    await client.responses.create(model="command-text", input="W?", text={"format": SCHEMA})  # type: ignore[arg-type]
    assert cohere.calls[-1].body["response_format"]["json_schema"] == SCHEMA["schema"]


async def test_three_turns_where_turn_two_fails_over(
    mock: MockOpenAI, claude: Any, cohere: Any, start_gateway: Any
) -> None:
    gw = await start_gateway(config(mock, claude, cohere))
    client = gw.openai()
    r1 = await client.responses.create(model="conv", input="Turn one.")
    assert r1.output_text == mock.text
    mock.fail(Fail(500))  # the OpenAI deployment fails turn two: Anthropic takes over
    r2 = await client.responses.create(model="conv", input="Turn two.", previous_response_id=r1.id)
    assert r2.output_text == CLAUDE_TEXT
    sent = claude.calls[-1].body["messages"]  # the whole conversation, translated
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [m["content"][0]["text"] for m in sent] == ["Turn one.", mock.text, "Turn two."]
    async with client.responses.stream(
        model="conv", input="Turn three.", previous_response_id=r2.id
    ) as stream:
        r3 = await stream.get_final_response()
    assert r3.output_text == mock.text
    native = mock.calls[-1]["body"]["input"]  # back on OpenAI, with Anthropic's turn in it
    texts = [
        i["content"] if isinstance(i["content"], str) else i["content"][0]["text"]
        for i in native
        if i.get("type", "message") == "message"
    ]
    assert texts == ["Turn one.", mock.text, "Turn two.", CLAUDE_TEXT, "Turn three."]
    assert [i["role"] for i in native] == ["user", "assistant", "user", "assistant", "user"]


@pytest.mark.parametrize("model", ["gpt-r", "gpt-chat"])  # native, and translated
async def test_client_disconnect_mid_stream(gw: Any, mock: MockOpenAI, model: str) -> None:
    mock.tokens_per_second = 20  # 13 words at 50 ms each
    resp = await gw.http.post(
        gw.url + "/v1/responses", json={"model": model, "input": "hi", "stream": True}
    )
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # response.created is through
    await asyncio.wait_for(mock.stream_started.wait(), 5)
    resp.close()
    async with asyncio.timeout(5):
        while mock.streams_cancelled == 0:
            await asyncio.sleep(0.01)  # polling the mock's counter, bounded by the timeout
    assert mock.streams_cancelled == 1 and mock.streams_completed == 0
    # Nothing half-written is stored.
    assert await gw.gateway.accounts.store.fetch("SELECT id FROM responses") == []


@pytest.mark.parametrize("model", ["gpt-r", "claude-stream-error"])
async def test_upstream_error_mid_stream(gw: Any, mock: MockOpenAI, model: str) -> None:
    mock.fail(Fail(500, after_chunks=2))
    client = gw.openai()
    stream = await client.responses.create(model=model, input="hi", stream=True)
    types, texts = [], []
    async for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            texts.append(event.delta)
    assert types[-2:] == ["error", "response.failed"]
    assert texts  # some text arrived before the failure
    assert await gw.gateway.accounts.store.fetch("SELECT id FROM responses") == []


BAD: list[tuple[dict[str, Any], str]] = [
    ({"input": "x"}, "model"),
    ({"model": "gpt-r"}, "input"),
    ({"model": "gpt-r", "input": 3}, "input"),
    ({"model": "gpt-r", "input": [{"role": "pirate", "content": "x"}]}, "input[0].role"),
    ({"model": "gpt-r", "input": [{"type": "function_call"}]}, "input[0].call_id"),
    ({"model": "gpt-r", "input": "x", "temperature": 3}, "temperature"),
    ({"model": "gpt-r", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": "gpt-r", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"model": "gpt-r", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": "gpt-r", "input": "x", "metadata": {"k": 1}}, "metadata"),
    ({"model": "gpt-r", "input": "x", "previous_response_id": "../x"}, "previous_response_id"),
    ({"model": "gpt-r", "input": "x", "frobnicate": True}, "frobnicate"),
    ({"model": "gpt-r", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "gpt-r", "input": "x", "max_output_tokens": 2**63}, "max_output_tokens"),
]


@pytest.mark.parametrize(("body", "param"), BAD)
async def test_bad_input_is_a_400_before_any_upstream_call(
    gw: Any, mock: MockOpenAI, body: dict, param: str
) -> None:
    r = await gw.http.post(gw.url + "/v1/responses", json=body)
    err = (await r.json())["error"]
    assert r.status == 400 and err["param"] == param and err["type"] == "invalid_request_error"
    assert mock.calls == []


async def test_built_in_tools_only_on_openai(gw: Any, mock: MockOpenAI, claude: Any) -> None:
    client = gw.openai()
    with pytest.raises(openai.BadRequestError) as e:
        await client.responses.create(
            model="claude-text", input="news?", tools=[{"type": "web_search"}]
        )
    assert e.value.body["param"] == "tools"  # type: ignore[index]
    assert claude.calls == []
    r = await client.responses.create(model="gpt-r", input="news?", tools=[{"type": "web_search"}])
    assert [o.type for o in r.output] == ["web_search_call", "message"]
    assert mock.calls[-1]["body"]["tools"] == [{"type": "web_search"}]
    # Streamed: the built-in item is in the final response too.
    async with client.responses.stream(
        model="gpt-r", input="news?", tools=[{"type": "web_search"}]
    ) as stream:
        final = await stream.get_final_response()
    assert {o.type for o in final.output} == {"web_search_call", "message"}


async def test_store_false_and_unknown_previous(gw: Any) -> None:
    client = gw.openai()
    r = await client.responses.create(model="claude-text", input="hi", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as e:
        await client.responses.create(model="claude-text", input="hi", previous_response_id=r.id)
    assert e.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert e.value.body["code"] == "previous_response_not_found"  # type: ignore[index]


async def test_input_items_pagination(gw: Any) -> None:
    client = gw.openai()
    r = await client.responses.create(
        model="claude-text",
        input=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )
    page = await client.responses.input_items.list(r.id, limit=2, order="asc")
    texts = [i.content[0].text for i in page.data]  # type: ignore[union-attr]
    assert texts == ["one", "two"] and page.has_more
    rest = await client.responses.input_items.list(r.id, order="asc", after=page.data[-1].id)
    assert [i.content[0].text for i in rest.data] == ["three"]  # type: ignore[union-attr]
    r2 = await gw.http.get(gw.url + f"/v1/responses/{r.id}/input_items?limit=500")
    assert r2.status == 400 and (await r2.json())["error"]["param"] == "limit"


async def test_cache_usage_and_auto_apply(
    mock: MockOpenAI, claude: Any, cohere: Any, start_gateway: Any
) -> None:
    """Translated requests go through the same stages as chat: the cache answers a repeat,
    and the cost router picks a model for `auto`."""
    cfg = config(
        mock,
        claude,
        cohere,
        cache={"enabled": True},
        routers={"auto": {"strong": "claude-text", "cheap": "command-text"}},
    )
    gw = await start_gateway(cfg)
    client = gw.openai()
    body = {"model": "claude-text", "input": "cache me", "temperature": 0}
    a = await client.responses.with_raw_response.create(**body)  # type: ignore[arg-type]
    b = await client.responses.with_raw_response.create(**body)  # type: ignore[arg-type]
    assert a.headers["x-aigw-cache"] == "miss" and b.headers["x-aigw-cache"] == "hit"
    assert b.parse().output_text == CLAUDE_TEXT
    assert len(claude.calls) == 1
    r = await client.responses.create(model="auto", input="hi")
    assert r.model in ("claude-text", "command-text")
    assert r.output_text in (CLAUDE_TEXT, COHERE_TEXT)


async def test_stored_content_stays_out_of_logs(gw: Any, capfd: pytest.CaptureFixture[str]) -> None:
    client = gw.openai()
    secret = "my-secret-conversation-4815162342"
    await client.responses.create(model="claude-text", input=secret)
    out, err = capfd.readouterr()
    assert secret not in out and secret not in err
    metrics = await (await gw.http.get(gw.url + "/metrics")).text()
    assert secret not in metrics
    # ...while the request is counted like any other: route, model, tokens.
    assert 'route="/v1/responses",status_class="2xx"' in metrics
    assert any(
        line.startswith("llm_tokens_total") and 'model="claude-text"' in line
        for line in metrics.splitlines()
    )
    rows = await gw.gateway.accounts.store.fetch("SELECT input FROM responses")
    assert secret in orjson.loads(rows[0][0])[0]["content"][0]["text"]


@pytest.mark.parametrize("model", ["gpt-r", "claude-tools", "command-text"])
async def test_shapes_validate_strictly_against_the_sdk_types(gw: Any, model: str) -> None:
    """Not the SDK's lenient construction: pydantic validation of every field."""
    from openai.types.responses import Response, ResponseStreamEvent
    from pydantic import TypeAdapter

    body = {"model": model, "input": "Weather?", "tools": [WEATHER], "metadata": {"a": "b"}}
    r = await gw.http.post(gw.url + "/v1/responses", json=body)
    Response.model_validate(await r.json())
    r = await gw.http.post(gw.url + "/v1/responses", json={**body, "stream": True})
    events = TypeAdapter(ResponseStreamEvent)
    raw = (await r.read()).decode()
    seen = []
    for block in raw.strip().split("\n\n"):
        data = json.loads(block.split("\n", 1)[1].removeprefix("data: "))
        seen.append(events.validate_python(data).type)
    assert seen[-1] == "response.completed"


async def test_mid_stream_error_events_validate(gw: Any, mock: MockOpenAI) -> None:
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    mock.fail(Fail(500, after_chunks=1))
    r = await gw.http.post(
        gw.url + "/v1/responses", json={"model": "gpt-chat", "input": "hi", "stream": True}
    )
    raw = (await r.read()).decode()
    events = [
        TypeAdapter(ResponseStreamEvent).validate_python(
            json.loads(block.split("\n", 1)[1].removeprefix("data: "))
        )
        for block in raw.strip().split("\n\n")
    ]
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed"  # type: ignore[union-attr]
    assert events[-1].response.error.code == "server_error"  # type: ignore[union-attr]


async def test_reasoning_items_where_the_provider_exposes_it(gw: Any) -> None:
    """Anthropic's thinking becomes a `reasoning` item before the message, streamed or not;
    the shapes validate against the SDK's types."""
    from openai.types.responses import Response

    r = await gw.http.post(
        gw.url + "/v1/responses",
        json={"model": "claude-thinking", "input": "think", "reasoning": {"effort": "high"}},
    )
    resp = Response.model_validate(await r.json())
    assert [o.type for o in resp.output][:2] == ["reasoning", "message"]
    thought = resp.output[0].content[0].text  # type: ignore[union-attr]
    assert thought and resp.reasoning is not None and resp.reasoning.effort == "high"
    client = gw.openai()
    deltas: list[str] = []
    async with client.responses.stream(model="claude-thinking", input="think") as stream:
        async for event in stream:
            if event.type == "response.reasoning_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    assert final.output[0].type == "reasoning" and "".join(deltas) == thought


async def test_native_stream_passes_the_upstream_events(gw: Any, mock: MockOpenAI) -> None:
    r = await gw.http.post(
        gw.url + "/v1/responses",
        json={
            "model": "gpt-r",
            "input": "news?",
            "tools": [{"type": "web_search"}],
            "stream": True,
        },
    )
    raw = (await r.read()).decode()
    events = [
        json.loads(b.split("\n", 1)[1].removeprefix("data: ")) for b in raw.split("\n\n")[:-1]
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["web_search_call", "message"]  # the upstream's own items and events
    ids = {e["response"]["id"] for e in events if "response" in e}
    assert len(ids) == 1  # the gateway's id throughout, not the upstream's
    (rid,) = ids
    assert rid.startswith("resp_") and rid not in json.dumps(mock.calls)
    stored = await gw.http.get(gw.url + f"/v1/responses/{rid}")
    assert (await stored.json())["output"] == events[-1]["response"]["output"]
