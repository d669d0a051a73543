"""Property tests for Google's content format:

- any OpenAI conversation becomes a request the mock's Gemini rules accept, keeping every
  text, tool call and tool result in order;
- any Gemini answer, cut into a random stream of events, assembles to what the non-streamed
  translation says;
- any JSON value given as a schema becomes a schema Gemini accepts, or a clean 400.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from aigw.providers.gemini.request import to_gemini
from aigw.providers.gemini.response import GeminiStream, from_gemini
from aigw.providers.gemini.schema import to_gemini_schema
from aigw.types import GatewayError
from tests.helpers_providers import assemble, check_chunk_shape
from tests.mock_google import Invalid, check_gemini, check_schema
from tests.test_translation_properties import SETTINGS, args, conversations, json_value, name, text


def openai_items(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        c = m.get("content")
        parts = [c] if isinstance(c, str) else [p["text"] for p in c or []]
        if m["role"] == "tool":
            out.append(("result", c))
            continue
        out.extend(("text", p) for p in parts if p)
        for tc in m.get("tool_calls") or []:
            out.append(
                ("call", (tc["function"]["name"], orjson.loads(tc["function"]["arguments"])))
            )
    return out


def gemini_items(body: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for c in body["contents"]:
        for p in c["parts"]:
            if "text" in p:
                out.append(("text", p["text"]))
            elif "functionCall" in p:
                out.append(("call", (p["functionCall"]["name"], p["functionCall"]["args"])))
            elif "functionResponse" in p:
                r = p["functionResponse"]["response"]
                out.append(
                    ("result", r["output"] if set(r) == {"output"} else orjson.dumps(r).decode())
                )
    return out


@SETTINGS
@given(conversations())
def test_conversations_keep_every_item_in_order(messages: list[dict[str, Any]]) -> None:
    body = to_gemini({"messages": messages})
    check_gemini(body)
    got = gemini_items(body)
    want = openai_items(messages)
    # A tool result that is JSON text comes back as the same JSON, maybe spelled differently.
    assert [k for k, _ in got] == [k for k, _ in want]
    for (kind, g), (_, w) in zip(got, want, strict=True):
        if kind == "result" and g != w:
            assert orjson.loads(g) == orjson.loads(w)
        else:
            assert g == w


part = st.one_of(
    text.map(lambda t: {"text": t}),
    text.map(lambda t: {"text": t, "thought": True}),
    st.tuples(name, args).map(lambda c: {"functionCall": {"name": c[0], "args": c[1]}}),
)


@st.composite
def streamed_answers(draw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A Gemini answer and the stream events that carry it (parts split across events,
    usage growing, the finish reason on the last)."""
    parts = draw(st.lists(part, min_size=1, max_size=6))
    reason = draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER"]))
    usage = {
        "promptTokenCount": draw(st.integers(0, 500)),
        "candidatesTokenCount": draw(st.integers(0, 500)),
        "thoughtsTokenCount": draw(st.integers(0, 500)),
        "cachedContentTokenCount": 0,
    }
    rid = draw(st.from_regex(r"[A-Za-z0-9_-]{8,23}", fullmatch=True))
    whole = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason}],
        "usageMetadata": usage,
        "responseId": rid,
    }
    cuts = sorted(draw(st.sets(st.integers(1, len(parts)), max_size=len(parts))) | {len(parts)})
    events, start = [], 0
    for i, end in enumerate(cuts):
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts[start:end]}}
        if i == len(cuts) - 1:
            cand["finishReason"] = reason
        events.append({"candidates": [cand], "usageMetadata": usage, "responseId": rid})
        start = end
    return whole, events


@SETTINGS
@given(streamed_answers())
def test_streams_assemble_to_the_answer(case: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    whole, events = case
    answer = from_gemini(whole, "m", "gemini").body
    t = GeminiStream("m", "gemini")
    chunks = [c for ev in events for c in t.feed(None, orjson.dumps(ev))] + t.close()
    check_chunk_shape(chunks)
    got = assemble(chunks)
    msg = answer["choices"][0]["message"]
    assert got["message"]["content"] == msg["content"]
    assert got["message"].get("reasoning_content") == msg.get("reasoning_content")
    assert got["message"].get("tool_calls") == msg.get("tool_calls")
    assert got["finish_reason"] == answer["choices"][0]["finish_reason"]
    assert got["usage"] == answer["usage"]


schema_like = st.recursive(
    json_value,
    lambda inner: st.dictionaries(
        st.sampled_from(
            [
                "type",
                "properties",
                "items",
                "required",
                "enum",
                "const",
                "anyOf",
                "oneOf",
                "allOf",
                "$ref",
                "$defs",
                "format",
                "additionalProperties",
                "nullable",
                "description",
            ]
        )
        | name,
        inner | st.sampled_from(["object", "string", "array", "integer", "null", "#/$defs/a"]),
        max_size=5,
    ),
    max_leaves=20,
)


@SETTINGS
@given(schema_like)
def test_any_schema_is_accepted_or_refused_cleanly(s: Any) -> None:
    try:
        out = to_gemini_schema(s, "p")
    except GatewayError as e:
        assert e.status == 400 and e.param == "p"
        return
    try:
        check_schema(out, "p")
    except Invalid as e:  # only what Gemini itself refuses too
        raise AssertionError(f"{s!r} -> {out!r}: {e}") from None


openai_keys = st.sampled_from(
    [
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "stop",
        "n",
        "max_tokens",
        "temperature",
        "thinkingConfig",
        "safetySettings",
        "cachedContent",
    ]
)
any_json = st.recursive(
    json_value,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "type",
                    "text",
                    "function",
                    "name",
                    "arguments",
                    "tool_calls",
                    "tool_call_id",
                    "image_url",
                    "url",
                    "json_schema",
                    "schema",
                    "input_audio",
                    "file",
                    "file_data",
                    "parameters",
                    "properties",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(openai_keys, any_json, max_size=5), conversations())
def test_any_request_body_translates_or_is_a_clean_400(
    junk: dict[str, Any], messages: list[dict[str, Any]]
) -> None:
    for body in (
        junk,
        {"messages": messages, **{k: v for k, v in junk.items() if k != "messages"}},
    ):
        try:
            to_gemini(body)
        except GatewayError as e:
            assert e.status == 400
