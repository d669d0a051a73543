"""Property tests: translation never drops or reorders content.

- OpenAI request -> Anthropic request -> (inbound) OpenAI request keeps every text, tool call
  and tool result, in order; OpenAI -> Cohere request keeps them too.
- A provider's answer, split into a random stream of events, assembles to exactly what the
  non-streamed translation of the same answer says (Anthropic and Cohere).
- An OpenAI chunk stream, translated to Anthropic events, accumulates to the message that
  the non-streamed translation produces.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigw.cache.replay import chunks_to_completion
from aigw.providers.anthropic import inbound as anthropic_inbound
from aigw.providers.anthropic.request import to_anthropic
from aigw.providers.anthropic.response import from_anthropic
from aigw.providers.anthropic.stream import AnthropicStream
from aigw.providers.cohere.chat import from_cohere, to_cohere
from aigw.providers.cohere.stream import CohereStream
from tests.helpers_providers import assemble, check_chunk_shape, normalise_message

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(min_size=1, max_size=40)
name = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(name, inner, max_size=3),
    max_leaves=6,
)
args = st.dictionaries(name, json_value, max_size=4)


@st.composite
def conversations(draw: Any) -> list[dict[str, Any]]:
    """OpenAI message lists: an optional system prompt, then user turns, assistant answers
    (text and/or parallel tool calls), and the tool results that answer every call."""
    msgs: list[dict[str, Any]] = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(text)})
    msgs.append({"role": "user", "content": draw(text)})
    n_call = 0
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "tools", "user"]))
        if kind == "user":
            parts = draw(st.lists(text, min_size=1, max_size=3))
            content: Any = (
                parts[0] if len(parts) == 1 else [{"type": "text", "text": p} for p in parts]
            )
            msgs.append({"role": "user", "content": content})
        elif kind == "text":
            msgs.append({"role": "assistant", "content": draw(text)})
        else:
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                n_call += 1
                calls.append(
                    {
                        "id": f"call_{n_call}",
                        "type": "function",
                        "function": {
                            "name": draw(name),
                            "arguments": orjson.dumps(draw(args)).decode(),
                        },
                    }
                )
            lead = draw(st.one_of(st.none(), text))
            msgs.append({"role": "assistant", "content": lead, "tool_calls": calls})
            for c in calls:
                msgs.append({"role": "tool", "tool_call_id": c["id"], "content": draw(text)})
            msgs.append({"role": "user", "content": draw(text)})
    return msgs


def texts_of(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    return [p["text"] for p in content if p.get("type") == "text" and p.get("text")]


def flatten_openai(msgs: list[dict[str, Any]]) -> list[tuple]:
    """The meaning of a conversation, independent of how turns are grouped."""
    out: list[tuple] = []
    for m in msgs:
        role = m["role"]
        if role == "tool":
            out.append(("tool", m["tool_call_id"], "".join(texts_of(m["content"]))))
            continue
        out.extend((role, t) for t in texts_of(m.get("content")))
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            out.append(("call", c["id"], fn["name"], orjson.loads(fn["arguments"] or "{}")))
    return out


@SETTINGS
@given(conversations())
def test_openai_anthropic_openai_round_trip(msgs: list[dict[str, Any]]) -> None:
    body = {"model": "m", "messages": msgs, "max_tokens": 10}
    upstream = to_anthropic(body, "claude", 100)
    roles = [m["role"] for m in upstream["messages"]]
    # Anthropic's rules: user first, roles alternate, results right after their calls.
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles))
    back = anthropic_inbound.to_openai({**upstream, "model": "m"})
    assert flatten_openai(back["messages"]) == flatten_openai(msgs)


def flatten_cohere(msgs: list[dict[str, Any]]) -> list[tuple]:
    out: list[tuple] = []
    for m in msgs:
        role = m["role"]
        if role == "tool":
            out.append(("tool", m["tool_call_id"], m["content"]))
            continue
        if m.get("tool_plan"):
            out.append((role, m["tool_plan"]))
        out.extend((role, t) for t in texts_of(m.get("content")))
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            out.append(("call", c["id"], fn["name"], orjson.loads(fn["arguments"])))
    return out


@SETTINGS
@given(conversations())
def test_openai_to_cohere_keeps_everything(msgs: list[dict[str, Any]]) -> None:
    out = to_cohere({"messages": msgs}, "command")
    assert flatten_cohere(out["messages"]) == flatten_openai(msgs)


# --- streams assemble to the non-streamed answer -------------------------------------------


def pieces(draw: Any, s: str) -> list[str]:
    """`s` cut at random places (every piece non-empty)."""
    if len(s) <= 1:
        return [s] if s else []
    cuts = sorted(draw(st.sets(st.integers(1, len(s) - 1), max_size=4)))
    bounds = [0, *cuts, len(s)]
    return [s[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def anthropic_exchanges(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A random Anthropic message and an event stream that delivers it."""
    blocks: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            blocks.append({"type": "text", "text": draw(text)})
        else:
            blocks.append(
                {"type": "tool_use", "id": f"toolu_{i}", "name": draw(name), "input": draw(args)}
            )
    stop = draw(st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use"]))
    usage = {
        "input_tokens": draw(st.integers(0, 5000)),
        "output_tokens": draw(st.integers(0, 5000)),
        "cache_read_input_tokens": draw(st.integers(0, 5000)),
        "cache_creation_input_tokens": draw(st.integers(0, 500)),
    }
    message = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    start_usage = {**usage, "output_tokens": 1}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
        }
    ]
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            for p in pieces(draw, b["text"]):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": p},
                    }
                )
        else:
            start = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
            events.append({"type": "content_block_start", "index": i, "content_block": start})
            raw = orjson.dumps(b["input"]).decode() if b["input"] else ""
            for p in pieces(draw, raw):
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p},
                    }
                )
        if draw(st.booleans()):
            events.append({"type": "ping"})
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return message, events


@SETTINGS
@given(anthropic_exchanges())
def test_anthropic_stream_equals_response(exchange: tuple[dict, list[dict]]) -> None:
    message, events = exchange
    s = AnthropicStream("m")
    chunks = [c for e in events for c in s.feed(e["type"], orjson.dumps(e))] + s.close()
    check_chunk_shape(chunks)
    streamed = assemble(chunks)
    whole = from_anthropic(message, "m").body
    assert normalise_message(streamed["message"]) == normalise_message(
        whole["choices"][0]["message"]
    )
    assert streamed["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]
    # Nothing dropped: every text and every tool call of the provider's answer is there.
    joined = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert (whole["choices"][0]["message"]["content"] or "") == joined
    calls = whole["choices"][0]["message"].get("tool_calls") or []
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        b["input"] for b in message["content"] if b["type"] == "tool_use"
    ]


@st.composite
def cohere_exchanges(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    calls = [
        {
            "id": f"{draw(name)}_{i}",
            "type": "function",
            "function": {"name": draw(name), "arguments": orjson.dumps(draw(args)).decode()},
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    plan = draw(text) if calls and draw(st.booleans()) else ""
    answer = draw(text) if not calls else ""
    reason = (
        "TOOL_CALL" if calls else draw(st.sampled_from(["COMPLETE", "MAX_TOKENS", "STOP_SEQUENCE"]))
    )
    usage = {
        "billed_units": {
            "input_tokens": draw(st.integers(0, 999)),
            "output_tokens": draw(st.integers(0, 999)),
        },
        "tokens": {
            "input_tokens": draw(st.integers(0, 9999)),
            "output_tokens": draw(st.integers(0, 9999)),
        },
    }
    msg: dict[str, Any] = {"role": "assistant"}
    if answer:
        msg["content"] = [{"type": "text", "text": answer}]
    if calls:
        msg["tool_calls"] = calls
    if plan:
        msg["tool_plan"] = plan
    body = {"id": "c1", "finish_reason": reason, "message": msg, "usage": usage}
    events: list[dict[str, Any]] = [
        {
            "id": "c1",
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
    ]
    for p in pieces(draw, plan):
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}})
    for i, c in enumerate(calls):
        start = {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["function"]["name"], "arguments": ""},
        }
        events.append(
            {"type": "tool-call-start", "index": i, "delta": {"message": {"tool_calls": start}}}
        )
        for p in pieces(draw, c["function"]["arguments"]):
            events.append(
                {
                    "type": "tool-call-delta",
                    "index": i,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": p}}}},
                }
            )
        events.append({"type": "tool-call-end", "index": i})
    if answer:
        events.append(
            {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        )
        for p in pieces(draw, answer):
            events.append(
                {
                    "type": "content-delta",
                    "index": 0,
                    "delta": {"message": {"content": {"text": p}}},
                }
            )
        events.append({"type": "content-end", "index": 0})
    events.append({"type": "message-end", "delta": {"finish_reason": reason, "usage": usage}})
    return body, events


@SETTINGS
@given(cohere_exchanges())
def test_cohere_stream_equals_response(exchange: tuple[dict, list[dict]]) -> None:
    body, events = exchange
    s = CohereStream("m")
    chunks = [c for e in events for c in s.feed(e["type"], orjson.dumps(e))] + s.close()
    check_chunk_shape(chunks)
    streamed = assemble(chunks)
    whole = from_cohere(body, "m").body
    assert normalise_message(streamed["message"]) == normalise_message(
        whole["choices"][0]["message"]
    )
    assert streamed["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]
    calls = whole["choices"][0]["message"].get("tool_calls") or []
    assert [c["function"]["arguments"] for c in calls] == [
        c["function"]["arguments"] for c in body["message"].get("tool_calls") or []
    ]


# --- OpenAI chunks -> Anthropic events (the /v1/messages stream) ---------------------------


def accumulate_anthropic(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Build the message from Anthropic events the way the anthropic SDK does, checking the
    order rules on the way."""
    msg: dict[str, Any] = {}
    partial: dict[int, str] = {}
    open_block: int | None = None
    for name, data in events:
        assert data["type"] == name
        if name == "message_start":
            assert not msg
            msg = dict(data["message"])
            msg["content"] = []
        elif name == "content_block_start":
            assert open_block is None and data["index"] == len(msg["content"])
            open_block = data["index"]
            msg["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            assert data["index"] == open_block
            d = data["delta"]
            if d["type"] == "text_delta":
                msg["content"][data["index"]]["text"] += d["text"]
            else:
                partial[data["index"]] = partial.get(data["index"], "") + d["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_block
            if data["index"] in partial:
                msg["content"][data["index"]]["input"] = orjson.loads(partial[data["index"]])
            open_block = None
        elif name == "message_delta":
            msg["stop_reason"] = data["delta"]["stop_reason"]
            msg["usage"] = data["usage"]
        elif name == "message_stop":
            assert open_block is None
    return msg


@st.composite
def openai_streams(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    content = draw(st.one_of(st.none(), text))
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": draw(name), "arguments": orjson.dumps(draw(args)).decode()},
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length"]))
    usage = {
        "prompt_tokens": draw(st.integers(0, 999)),
        "completion_tokens": draw(st.integers(0, 999)),
    }
    completion = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": calls or None},
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }

    def chunk(delta: dict[str, Any], fin: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in pieces(draw, content or "")]
    for i, c in enumerate(calls):
        head = {
            "index": i,
            "id": c["id"],
            "type": "function",
            "function": {"name": c["function"]["name"], "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for p in pieces(draw, c["function"]["arguments"]):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
    chunks.append(chunk({}, finish))
    chunks.append({"id": "chatcmpl-1", "choices": [], "usage": usage})
    return completion, chunks


@SETTINGS
@given(openai_streams())
def test_openai_stream_to_anthropic_events_equals_message(stream: tuple[dict, list[dict]]) -> None:
    completion, chunks = stream
    ev = anthropic_inbound.MessageEvents("m")
    events = [e for c in chunks for e in ev.feed(c)] + ev.close()
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    streamed = accumulate_anthropic(events)
    whole = anthropic_inbound.to_message(completion, "m")
    assert streamed["content"] == whole["content"]
    assert streamed["stop_reason"] == whole["stop_reason"]
    assert streamed["usage"] == whole["usage"]
    # A whole answer for a stream request (e.g. replayed) streams the same message.
    replay = anthropic_inbound.MessageEvents("m")
    chunks2 = anthropic_inbound.completion_chunks(completion)
    again = accumulate_anthropic([e for c in chunks2 for e in replay.feed(c)] + replay.close())
    assert (again["content"], again["stop_reason"]) == (whole["content"], whole["stop_reason"])
    # ...and a stream for a request that wanted one answer gathers (in the one writer,
    # server/writer.py) to the same message.
    gathered = anthropic_inbound.to_message(chunks_to_completion(chunks), "m")
    assert gathered["content"] == whole["content"] and gathered["usage"] == whole["usage"]
