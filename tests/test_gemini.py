"""Google's content format (Gemini API, Vertex AI): translation units on documented payloads.
End to end through the gateway: tests/test_gemini_e2e.py."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from aigw.providers.gemini import errors, ids, schema
from aigw.providers.gemini.adapter import GeminiAdapter
from aigw.providers.gemini.embeddings import gemini_embed_request, vertex_embed_request
from aigw.providers.gemini.request import to_gemini
from aigw.providers.gemini.response import GeminiStream, from_gemini
from aigw.types import GatewayError
from tests.helpers_providers import assemble, check_chunk_shape, translate_stream
from tests.mock_google import check_gemini, check_schema
from tests.mock_providers import fixture, fixture_json

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def answer(name: str) -> tuple[dict[str, Any], Any]:
    a = from_gemini(fixture_json("gemini", name), "gemini-2.5-flash", "gemini")
    return a.body, a.usage


def stream(name: str) -> list[dict[str, Any]]:
    return translate_stream("gemini", name, GeminiStream("gemini-2.5-flash", "gemini"))


# --- request -------------------------------------------------------------------------------


def test_messages_system_and_generation_config() -> None:
    body = {
        "model": "gm",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "max_completion_tokens": 50,
        "seed": 7,
        "presence_penalty": 0.5,
    }
    out = to_gemini(body)
    check_gemini(out)
    assert out == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Weather?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "presencePenalty": 0.5,
            "maxOutputTokens": 50,
            "stopSequences": ["END"],
            "candidateCount": 1,
        },
    }


def test_paths_and_key_header() -> None:
    from aigw.providers.settings import ProviderConfig

    conf = ProviderConfig(name="gm", type="gemini", api_key="gm-key")
    a = GeminiAdapter()
    body = {"messages": [{"role": "user", "content": "x"}]}
    req = a.chat_request(conf, body, "gemini-2.5-flash", stream=False)
    assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "gm-key" and "key=" not in req.path
    req = a.chat_request(conf, body, "gemini-2.5-flash", stream=True)
    assert req.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    for bad in ("../../v1/files", "gemini?key=x", "a/b", "x#y", "%2e%2e"):
        with pytest.raises(GatewayError) as e:
            a.chat_request(conf, body, bad, stream=False)
        assert e.value.status == 400 and e.value.param == "model"


def test_images_inline_and_remote_refused() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    out = to_gemini({"messages": [{"role": "user", "content": content}]})
    check_gemini(out)
    assert out["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]
    gs = to_gemini(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "gs://b/cat.png"}}],
                }
            ]
        }
    )
    assert gs["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/cat.png"}}
    ]
    for url in (
        "https://example.com/cat.png",
        "data:image/png,notbase64",
        "data:image/png;base64,***",
    ):
        with pytest.raises(GatewayError) as e:
            to_gemini(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"type": "image_url", "image_url": {"url": url}}],
                        }
                    ]
                }
            )
        assert e.value.status == 400
    with pytest.raises(GatewayError, match="does not fetch remote URLs"):
        to_gemini(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}],
                    }
                ]
            }
        )


def test_tool_round_trip_request() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Weather in Toronto and Madrid?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 24}'},
            {"role": "tool", "tool_call_id": "call_b", "content": "10:00"},
        ],
        "tools": [
            WEATHER_TOOL,
            {
                "type": "function",
                "function": {
                    "name": "get_time",
                    "parameters": {"type": "object", "properties": {}},
                },
            },
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    out = to_gemini(body)
    check_gemini(out)
    assert out["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"location": "Toronto"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    }
    assert out["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 24}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "10:00"}}},
        ],
    }
    decls = out["tools"][0]["functionDeclarations"]
    assert decls[0] == {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "OBJECT",
            "properties": {"location": {"type": "STRING"}},
            "required": ["location"],
        },
    }
    assert decls[1] == {"name": "get_time"}  # no properties: no parameters (Gemini refuses empty)
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    for choice, mode in (("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")):
        assert to_gemini({**body, "tool_choice": choice})["toolConfig"] == {
            "functionCallingConfig": {"mode": mode}
        }


def test_tool_result_without_its_call_is_refused() -> None:
    with pytest.raises(GatewayError) as e:
        to_gemini(
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "nope", "content": "1"},
                ]
            }
        )
    assert e.value.status == 400 and "nope" in e.value.message


def test_response_format_json_schema() -> None:
    rf = {
        "type": "json_schema",
        "json_schema": {
            "name": "person",
            "strict": True,
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "born": {"type": ["integer", "null"]},
                    "fields": {"type": "array", "items": {"$ref": "#/$defs/field"}},
                    "kind": {"const": "scientist"},
                    "level": {"enum": [1, 2, 3]},
                    "email": {"type": "string", "format": "email"},
                    "when": {"type": "string", "format": "date-time"},
                },
                "required": ["name", "born", "fields", "ghost"],
                "additionalProperties": False,
                "$defs": {"field": {"type": "string", "enum": ["mathematics", "computing"]}},
            },
        },
    }
    cfg = to_gemini({"messages": [{"role": "user", "content": "x"}], "response_format": rf})[
        "generationConfig"
    ]
    assert cfg["responseMimeType"] == "application/json"
    s = cfg["responseSchema"]
    check_schema(s, "response_schema")
    assert s["propertyOrdering"] == ["name", "born", "fields", "kind", "level", "email", "when"]
    p = s["properties"]
    assert p["born"] == {"type": "INTEGER", "nullable": True}
    assert p["fields"] == {
        "type": "ARRAY",
        "items": {"type": "STRING", "enum": ["mathematics", "computing"], "format": "enum"},
    }
    assert p["kind"] == {"type": "STRING", "enum": ["scientist"], "format": "enum"}
    assert p["level"] == {"description": "One of: 1, 2, 3."}
    assert p["email"] == {"type": "STRING"} and p["when"] == {
        "type": "STRING",
        "format": "date-time",
    }
    assert s["required"] == ["name", "born", "fields"]
    json_mode = to_gemini(
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    )
    assert json_mode["generationConfig"]["responseMimeType"] == "application/json"


def test_schema_variants_and_refusals() -> None:
    s = schema.to_gemini_schema(
        {
            "anyOf": [{"type": "string"}, {"type": "null"}],
        },
        "p",
    )
    assert s == {"type": "STRING", "nullable": True}
    s = schema.to_gemini_schema({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "p")
    assert s == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    s = schema.to_gemini_schema({"type": ["string", "integer"]}, "p")
    assert s == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    s = schema.to_gemini_schema(
        {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}]},
        "p",
    )
    assert s == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["a"]}
    recursive = {
        "type": "object",
        "properties": {"child": {"$ref": "#/$defs/node"}},
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
    }
    with pytest.raises(GatewayError, match="recursive"):
        schema.to_gemini_schema(recursive, "tools[0].function.parameters")
    with pytest.raises(GatewayError, match="unresolvable"):
        schema.to_gemini_schema({"$ref": "https://example.com/s.json"}, "p")
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(GatewayError, match="deeper"):
        schema.to_gemini_schema(deep, "p")


def test_refusals_before_any_call() -> None:
    base = {"messages": [{"role": "user", "content": "x"}]}
    for extra, param in (
        ({"n": 2}, "n"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
    ):
        with pytest.raises(GatewayError) as e:
            to_gemini({**base, **extra})
        assert (e.value.status, e.value.param) == (400, param)
    with pytest.raises(GatewayError):
        to_gemini({"messages": [{"role": "system", "content": "only a system prompt"}]})


# --- ids -------------------------------------------------------------------------------------


def test_call_ids_are_stable_and_carry_the_signature() -> None:
    fc = {"name": "get_weather", "args": {"location": "Toronto"}}
    a = ids.call_id("rid", 0, fc, None)
    assert a == ids.call_id("rid", 0, dict(fc), None) and a.startswith("call_")
    assert a != ids.call_id("rid", 1, fc, None) and a != ids.call_id("other", 0, fc, None)
    assert ids.call_id("rid", 0, {**fc, "id": "g-7"}, None) == "g-7"
    sig = base64.b64encode(bytes(range(256))).decode()  # has + and /
    carried = ids.call_id("rid", 0, fc, sig)
    assert carried.startswith(a + "_ts_")
    assert all(c.isalnum() or c in "_-" for c in carried)  # Anthropic's id rule, too
    assert ids.split_call_id(carried) == (a, sig)
    assert ids.split_call_id("call_abc") == ("call_abc", None)


# --- response --------------------------------------------------------------------------------


def test_text_answer_and_usage() -> None:
    out, usage = answer("text.json")
    msg = out["choices"][0]["message"]
    assert msg["content"].startswith("An LLM, or large language model")
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["id"] == "chatcmpl-mOUnaZ2cD8ajvdIPpdiW0Qs"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (24, 27, 16)
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 16}


def test_thinking_usage_and_reasoning_content() -> None:
    out, usage = answer("thinking.json")
    msg = out["choices"][0]["message"]
    assert msg["content"] == "4" and msg["reasoning_content"].startswith("**Weighing the sum**")
    assert (usage.completion_tokens, usage.reasoning_tokens) == (53, 52)
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 52}


def test_tool_call_answer_keeps_the_thought_signature() -> None:
    doc = fixture_json("gemini", "tool_call.json")
    out, _ = answer("tool_call.json")
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    (call,) = out["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"location":"Toronto"}'}
    # The next request gives the signature back, on the call it came with.
    history = [
        {"role": "user", "content": "Weather in Toronto?"},
        out["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "24C"},
    ]
    sent = to_gemini({"messages": history})
    check_gemini(sent)
    part = sent["contents"][1]["parts"][0]
    assert (
        part["thoughtSignature"] == doc["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    )


def test_finish_reasons() -> None:
    assert answer("max_tokens.json")[0]["choices"][0]["finish_reason"] == "length"
    assert answer("safety.json")[0]["choices"][0]["finish_reason"] == "content_filter"
    with pytest.raises(GatewayError) as e:
        answer("prompt_blocked.json")
    assert (e.value.status, e.value.code, e.value.retryable) == (400, "content_filter", False)
    assert "PROHIBITED_CONTENT" in e.value.message
    with pytest.raises(GatewayError) as e:
        answer("malformed_call.json")
    assert (e.value.status, e.value.retryable) == (502, True)


@pytest.mark.parametrize(
    "name",
    [
        "text",
        "thinking",
        "tool_call",
        "parallel_tools",
        "tool_answer",
        "max_tokens",
        "json",
        "safety",
    ],
)
def test_stream_assembles_to_the_answer(name: str) -> None:
    chunks = stream(f"{name}.sse")
    check_chunk_shape(chunks)
    whole, _ = answer(f"{name}.json")
    streamed = assemble(chunks)
    msg = whole["choices"][0]["message"]
    assert streamed["message"]["content"] == msg["content"]
    assert streamed["message"].get("reasoning_content") == msg.get("reasoning_content")
    assert streamed["message"].get("tool_calls") == msg.get("tool_calls")
    assert streamed["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]
    indexes = [
        tc["index"]
        for c in chunks
        for ch in c["choices"]
        for tc in ch["delta"].get("tool_calls") or []
    ]
    assert indexes == list(range(len(indexes)))


def test_stream_cut_blocked_and_error_events() -> None:
    with pytest.raises(GatewayError) as e:
        stream("cut.sse")
    assert e.value.code == "upstream_stream_truncated"
    with pytest.raises(GatewayError) as e:
        stream("prompt_blocked.sse")
    assert (e.value.status, e.value.code) == (400, "content_filter")
    with pytest.raises(GatewayError) as e:
        stream("stream_error.sse")
    assert (e.value.status, e.value.retryable) == (502, True)
    assert "overloaded" in e.value.message


# --- errors ----------------------------------------------------------------------------------


def test_error_mapping() -> None:
    e = errors.error_from(429, fixture("gemini", "error_rate_limit.json"), {}, "gemini")
    assert (e.status, e.retryable, e.retry_after, e.type) == (429, True, 17.0, "rate_limit_error")
    e = errors.error_from(
        429,
        b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}',
        {"retry-after": "4"},
        "gemini",
    )
    assert e.retry_after == 4.0
    e = errors.error_from(400, fixture("gemini", "error_invalid_argument.json"), {}, "gemini")
    assert (e.status, e.retryable, e.code) == (400, False, "invalid_argument")
    assert "max_output_tokens must be positive" in e.message
    e = errors.error_from(503, fixture("gemini", "error_unavailable.json"), {}, "gemini")
    assert (e.status, e.retryable) == (502, True)
    e = errors.error_from(404, fixture("gemini", "error_not_found.json"), {}, "gemini")
    assert (e.status, e.retryable) == (404, False)
    for status, name in (
        (400, "error_api_key_invalid.json"),
        (401, "error_unauthenticated.json"),
        (403, "error_permission_denied.json"),
    ):
        e = errors.error_from(status, fixture("gemini", name), {}, "vertex")
        assert (e.status, e.code, e.retryable) == (502, "upstream_auth_failed", False)
        assert "API key not valid" not in e.message and "my-project" not in e.message
    listed = (
        b'[{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}]'
    )
    assert errors.error_from(429, listed, {}, "vertex").message == "vertex: Quota exceeded"
    e = errors.error_from(500, b"<html>oops</html>", {}, "gemini")
    assert (e.status, e.retryable) == (502, True) and "oops" in e.message


# --- embeddings ------------------------------------------------------------------------------


def test_embedding_requests() -> None:
    method, body = gemini_embed_request(
        {"input": "hi", "task_type": "retrieval_query", "dimensions": 256}, "text-embedding-004"
    )
    assert method == "embedContent"
    assert body == {
        "content": {"parts": [{"text": "hi"}]},
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 256,
    }
    method, body = gemini_embed_request({"input": ["a", "b"]}, "text-embedding-004")
    assert method == "batchEmbedContents"
    assert body == {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}},
        ]
    }
    assert vertex_embed_request({"input": ["a"], "task_type": "CLUSTERING", "dimensions": 8}) == {
        "instances": [{"content": "a", "task_type": "CLUSTERING"}],
        "parameters": {"outputDimensionality": 8},
    }
    for bad in (
        {"input": [[1, 2]]},
        {"input": "x", "task_type": "POETRY"},
        {"input": "x", "dimensions": 0},
        {"input": ["x"] * 101},
    ):
        with pytest.raises(GatewayError) as e:
            gemini_embed_request(bad, "m")
        assert e.value.status == 400


def test_stream_translator_ignores_parts_after_the_finish() -> None:
    t = GeminiStream("m", "gemini")
    last = fixture("gemini", "text.sse").split(b"\r\n\r\n")[-2][len(b"data: ") :]
    t.feed(None, last)
    late = orjson.dumps(
        {
            "candidates": [{"content": {"parts": [{"text": "late"}]}}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 30},
        }
    )
    assert t.feed(None, late) == []
    assert t.close()[0]["usage"]["prompt_tokens"] == 30


def test_priced_with_cache_reads_and_thinking() -> None:
    from aigw.billing.cost import usage_cost
    from aigw.billing.prices import shipped_price

    _, usage = answer("text.json")  # 24 prompt tokens, 16 of them cached; 27 out
    price = shipped_price("gemini-2.5-flash-preview-05-20")
    assert price is not None and price == shipped_price("gemini-2.5-flash")
    assert usage_cost(usage, price) == pytest.approx((8 * 0.30 + 16 * 0.075 + 27 * 2.50) / 1e6)
    _, thinking = answer("thinking.json")  # thoughts are billed as output
    lite = shipped_price("gemini-2.5-flash-lite")
    assert lite is not None and lite.output == 0.40
    assert usage_cost(thinking, price) == pytest.approx((9 * 0.30 + 53 * 2.50) / 1e6)


def test_settings_with_key_paths_and_environment() -> None:
    from aigw import config as configmod
    from aigw.config import ConfigError
    from aigw.providers.gemini import from_env as gemini_env
    from aigw.providers.vertex import from_env as vertex_env

    cfg = configmod.from_dict(
        {
            "providers": {
                "vx": {"type": "vertex", "project": "p-1", "location": "europe-west4"},
                "vg": {"type": "vertex", "project": "p-1", "location": "global"},
                "gm": {"type": "gemini", "api_key": "k"},
            }
        },
        env={},
    )
    assert cfg.providers["vx"].base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert cfg.providers["vg"].base_url == "https://aiplatform.googleapis.com"
    assert cfg.providers["gm"].base_url == "https://generativelanguage.googleapis.com"
    for providers, error in (
        ({"vx": {"type": "vertex"}}, "providers.vx.project: Field required"),
        (
            {"vx": {"type": "vertex", "project": "p/../x"}},
            "providers.vx.project: 'p/../x' is not a Google Cloud project id",
        ),
        ({"gm": {"type": "gemini", "project": "p"}}, "providers.gm.project: unknown key"),
    ):
        with pytest.raises(ConfigError) as e:
            configmod.from_dict({"providers": providers}, env={})
        assert error in str(e.value)
    assert gemini_env({}) is None
    assert gemini_env({"GEMINI_API_KEY": "a", "GOOGLE_API_KEY": "b"}) == {"api_key": "b"}
    assert vertex_env({"GOOGLE_CLOUD_PROJECT": "p"}) is None  # no credentials named
    assert vertex_env({"GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_GENAI_USE_VERTEXAI": "true"}) == {
        "project": "p",
        "location": "us-central1",
    }


def test_gemini_only_fields_pass_through() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        "cachedContent": "cachedContents/abc123",
    }
    out = to_gemini(body)
    check_gemini(out)
    assert out["generationConfig"]["thinkingConfig"] == body["thinkingConfig"]
    assert out["safetySettings"] == body["safetySettings"]
    assert out["cachedContent"] == "cachedContents/abc123"
    with pytest.raises(GatewayError) as e:
        to_gemini({**body, "thinkingConfig": "high"})
    assert (e.value.status, e.value.param) == (400, "thinkingConfig")


def test_reasoning_effort_is_a_thinking_budget() -> None:
    base: dict[str, Any] = {"messages": [{"role": "user", "content": "x"}]}
    cfg = to_gemini({**base, "reasoning_effort": "low"})["generationConfig"]
    assert cfg["thinkingConfig"] == {"thinkingBudget": 1024}
    own = {"thinkingBudget": 77, "includeThoughts": True}
    cfg = to_gemini({**base, "reasoning_effort": "high", "thinkingConfig": own})
    assert cfg["generationConfig"]["thinkingConfig"] == own  # the request's own wins
    with pytest.raises(GatewayError) as e:
        to_gemini({**base, "reasoning_effort": "extreme"})
    assert e.value.param == "reasoning_effort"


def test_model_resource_names() -> None:
    from aigw.providers.settings import ProviderConfig

    conf = ProviderConfig(name="gm", type="gemini", api_key="k")
    body = {"messages": [{"role": "user", "content": "x"}]}
    req = GeminiAdapter().chat_request(conf, body, "models/gemini-2.5-flash", stream=False)
    assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    emb = GeminiAdapter().embeddings_request(conf, {"input": ["a"]}, "models/text-embedding-004")
    assert emb.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert emb.body["requests"][0]["model"] == "models/text-embedding-004"


def test_an_entry_named_after_the_type_reads_googles_variables() -> None:
    from aigw import config as configmod

    env = {"GOOGLE_CLOUD_PROJECT": "p-env", "GOOGLE_CLOUD_LOCATION": "asia-east1"}
    cfg = configmod.from_dict(
        {"providers": {"vertex": {}, "vx": {"type": "vertex", "project": "own"}}}, env=env
    )
    v = cfg.providers["vertex"]
    assert (v.project, v.base_url) == (
        "p-env",
        "https://asia-east1-aiplatform.googleapis.com",
    )
    assert cfg.providers["vx"].location == "us-central1"  # not named vertex: no env
