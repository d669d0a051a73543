"""Responses <-> chat translation (aigw/responses/): pure functions, checked alone."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aigw.responses import translate
from aigw.responses.events import ResponseEvents
from aigw.responses.native import NativeStream, to_chat
from aigw.responses.turn import Turn, input_items


def turn(**req: Any) -> Turn:
    t = Turn({"model": "m", **req}, needs_openai=False)
    t.input = input_items(req.get("input", "hi"))
    return t


def test_request_to_chat() -> None:
    t = turn(
        input=[
            {"role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AA==",
                        "detail": "low",
                    },
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Let me look."}],
            },
            {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "look", "arguments": '{"x":1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "a hat"}],
            },
            {"type": "reasoning", "summary": []},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        ],
        instructions="You are kind.",
        tools=[{"type": "function", "name": "look", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "look"},
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "low"},
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.9,
        parallel_tool_calls=False,
        user="u1",
        metadata={"k": "v"},
    )
    body = translate.to_chat(t, stream=True)
    assert body["messages"] == [
        {"role": "system", "content": "You are kind."},
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}},
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"x":1}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "c2", "content": "a hat"},
    ]
    assert body["tools"] == [
        {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "look"}}
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 50
    assert (body["temperature"], body["top_p"], body["user"]) == (0.2, 0.9, "u1")
    assert body["parallel_tool_calls"] is False and body["stream"] is True
    assert "metadata" not in body  # chat's metadata needs OpenAI's store: not sent


def test_upstream_request_is_stateless() -> None:
    t = turn(
        input="next", previous_response_id="resp_1", stream_options={"include_obfuscation": False}
    )
    t.history = [
        {
            "id": "msg_a",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "first"}],
        },
        {
            "id": "msg_b",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "answer", "annotations": []}],
        },
        {"id": "rs_1", "type": "reasoning", "summary": []},
        {"id": "ws_1", "type": "web_search_call", "status": "completed"},
    ]
    out = t.upstream_request("gpt-x", stream=True)
    assert out["model"] == "gpt-x" and out["store"] is False and out["stream"] is True
    assert "previous_response_id" not in out and "stream_options" not in out
    assert out["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"type": "message", "role": "assistant", "content": "answer"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "next"}]},
    ]


def test_finish_reasons_become_status() -> None:
    t = turn()
    for finish, status, reason in (
        ("stop", "completed", None),
        ("tool_calls", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
    ):
        completion = {"choices": [{"message": {"content": "x"}, "finish_reason": finish}]}
        r = translate.from_chat(t, "m", completion)
        assert r["status"] == status
        assert (r["incomplete_details"] or {}).get("reason") == reason


TEXT = st.text(max_size=12)
CALLS = st.lists(st.tuples(st.from_regex(r"[a-z]{1,6}", fullmatch=True), TEXT), max_size=3)


@settings(max_examples=100, deadline=None)
@given(text=TEXT, reasoning=TEXT, calls=CALLS, pieces=st.integers(1, 5))
@example(text="", reasoning="r", calls=[], pieces=1)  # only reasoning: still a message
def test_streamed_events_spell_the_json_answer(
    text: str, reasoning: str, calls: list[tuple[str, str]], pieces: int
) -> None:
    """A chat answer streamed as chunks gives, through the events, the response the same
    answer gives whole (ids apart), and sequence numbers count from 0 without a gap."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate(calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    finish = "tool_calls" if tool_calls else "stop"
    whole = translate.from_chat(
        turn(), "m", {"choices": [{"message": message, "finish_reason": finish}], "usage": usage}
    )

    def cut(s: str) -> list[str]:
        step = max(1, len(s) // pieces)
        return [s[i : i + step] for i in range(0, len(s), step)]

    chunks: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    chunks += [
        {"choices": [{"index": 0, "delta": {"reasoning_content": p}}]} for p in cut(reasoning)
    ]
    chunks += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in cut(text)]
    for i, tc in enumerate(tool_calls):
        head = {"index": i, "id": tc["id"], "function": {"name": tc["function"]["name"]}}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        for p in cut(tc["function"]["arguments"]):
            piece = {"index": i, "function": {"arguments": p}}
            chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({"choices": [], "usage": usage})
    t = turn()
    ev = ResponseEvents(t, "m")
    events = [e for c in chunks for e in ev.feed(c)] + ev.close()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    streamed = events[-1]["response"]

    def strip(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in i.items() if k != "id"} for i in items]

    assert strip(streamed["output"]) == strip(whole["output"])
    assert streamed["usage"] == whole["usage"] and streamed["status"] == whole["status"]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == text


def test_native_answer_and_events_to_chat() -> None:
    resp = {
        "id": "resp_up",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {"type": "web_search_call", "id": "ws_1"},
            {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 2},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 3},
            "total_tokens": 12,
        },
    }
    chat = to_chat(resp)
    msg = chat["choices"][0]["message"]
    assert msg["content"] == "Hi" and msg["tool_calls"][0]["id"] == "c1"
    assert chat["choices"][0]["finish_reason"] == "length"
    assert chat["usage"]["prompt_tokens_details"] == {"cached_tokens": 2}
    assert chat["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    s = NativeStream()
    import orjson

    out = []
    for ev in (
        {"type": "response.created", "response": {"id": "resp_up"}},
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "response.completed", "response": resp | {"status": "completed"}},
    ):
        out += s.feed(ev["type"], orjson.dumps(ev))
    assert s.usage is not None and (s.usage.prompt_tokens, s.usage.completion_tokens) == (5, 7)
    assert [c["choices"][0]["delta"].get("content") for c in out if c["choices"]][:2] == ["", "Hi"]
    assert s.close() == []
