"""The Gemini API and Vertex AI end to end: the official openai SDK against the gateway, in
front of the loopback Gemini / Vertex mocks (and, for Vertex, a loopback OAuth token
endpoint behind a real service-account key file). Each test runs against both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from aigw.bench.mock_upstream import MockOpenAI
from tests.helpers_providers import assemble, check_chunk_shape
from tests.mock_google import GEMINI_KEY, MockGemini, MockVertex, TokenServer
from tests.mock_providers import fake_vector, fixture_json

WEATHER_TOOL: Any = {
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
MODELS = {
    name: name
    for name in (
        "gemini-text",
        "gemini-tools",
        "gemini-parallel",
        "gemini-length",
        "gemini-json",
        "gemini-safety",
        "gemini-blocked",
        "gemini-thinking",
        "gemini-cut",
        "gemini-stream-error",
        "gemini-ratelimited",
        "gemini-invalid",
        "gemini-unavailable",
        "gemini-missing",
    )
}
MODELS["embed"] = "text-embedding-004"


class Google:
    """One Google upstream (its mock, and the token endpoint for Vertex) and its config."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.tokens: TokenServer | None = None
        self.mock: MockGemini | MockVertex

    async def start(self) -> None:
        if self.kind == "vertex":
            self.tokens = TokenServer()
            await self.tokens.start()
            self.mock = MockVertex(tokens=self.tokens)
        else:
            self.mock = MockGemini()
        await self.mock.start()

    async def stop(self) -> None:
        await self.mock.stop()
        if self.tokens is not None:
            await self.tokens.stop()

    def provider(self, **over: Any) -> dict[str, Any]:
        if self.kind == "vertex":
            assert self.tokens is not None
            key_file = self.tokens.service_account(self.tmp_path)
            conf: dict[str, Any] = {
                "type": "vertex",
                "project": "my-project",
                "location": "us-central1",
                "credentials_file": str(key_file),
                "base_url": self.mock.url,
            }
        else:
            conf = {"type": "gemini", "api_key": GEMINI_KEY, "base_url": self.mock.url}
        return {**conf, **over}

    def config(self, **over: Any) -> dict[str, Any]:
        return {
            "providers": {"g": self.provider(**over)},
            "models": {name: {"provider": "g", "model": up} for name, up in MODELS.items()},
            "logging": {"level": "warning"},
            "auth": {"required": False},
        }


@pytest.fixture(params=["gemini", "vertex"])
async def google(request: Any, tmp_path: Path) -> Any:
    g = Google(request.param, tmp_path)
    await g.start()
    yield g
    await g.stop()


@pytest.fixture
async def client(google: Google, start_gateway: Any) -> openai.AsyncOpenAI:
    gw = await start_gateway(google.config())
    return gw.openai()


async def test_chat_json(client: openai.AsyncOpenAI, google: Google) -> None:
    r = await client.chat.completions.create(
        model="gemini-text",
        messages=[
            {"role": "system", "content": "You explain acronyms."},
            {"role": "user", "content": "What is an LLM?"},
        ],
        temperature=0.3,
        max_tokens=100,
    )
    assert (
        r.choices[0].message.content
        == fixture_json("gemini", "text.json")["candidates"][0]["content"]["parts"][0]["text"]
    )
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (24, 27)
    assert r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 16
    (call,) = google.mock.calls
    if google.kind == "gemini":
        assert call.path == "/v1beta/models/gemini-text:generateContent"
        assert call.headers["x-goog-api-key"] == GEMINI_KEY
        assert "Authorization" not in call.headers
    else:
        assert call.path == (
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
            "gemini-text:generateContent"
        )
        assert call.headers["Authorization"].startswith("Bearer ya29.test-")
        assert "x-goog-api-key" not in call.headers
    assert call.body["systemInstruction"] == {"parts": [{"text": "You explain acronyms."}]}
    assert call.body["generationConfig"] == {
        "temperature": 0.3,
        "maxOutputTokens": 100,
        "candidateCount": 1,
    }


@pytest.mark.parametrize(
    ("model", "tools"),
    [
        ("gemini-text", None),
        ("gemini-tools", [WEATHER_TOOL]),
        ("gemini-parallel", [WEATHER_TOOL]),
        ("gemini-length", None),
        ("gemini-thinking", None),
        ("gemini-safety", None),
    ],
)
async def test_stream_equals_non_stream(
    client: openai.AsyncOpenAI, google: Google, model: str, tools: Any
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
    msg = whole.choices[0].message.model_dump(exclude_none=True)
    assert streamed["message"]["content"] == msg.get("content")
    assert streamed["message"].get("tool_calls") == msg.get("tool_calls")
    assert streamed["finish_reason"] == whole.choices[0].finish_reason
    assert whole.usage is not None
    assert streamed["usage"]["total_tokens"] == whole.usage.total_tokens
    assert google.mock.calls[1].path.endswith(":streamGenerateContent?alt=sse")


async def test_tool_call_round_trip(client: openai.AsyncOpenAI, google: Google) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Toronto?"}]
    r = await client.chat.completions.create(
        model="gemini-tools", messages=messages, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert r.choices[0].finish_reason == "tool_calls"
    msg = r.choices[0].message
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"location": "Toronto"}
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 104
    sent = google.mock.calls[0].body
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert "additionalProperties" not in orjson.dumps(sent["tools"]).decode()
    messages.append(msg.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 24}'})
    r2 = await client.chat.completions.create(
        model="gemini-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    assert r2.choices[0].message.content == "It's 24°C in Toronto right now."
    contents = google.mock.calls[1].body["contents"]
    signature = fixture_json("gemini", "tool_call.json")["candidates"][0]["content"]["parts"][0][
        "thoughtSignature"
    ]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"location": "Toronto"}},
                "thoughtSignature": signature,
            }
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 24}}}],
    }


async def test_parallel_tool_results_travel_together(
    client: openai.AsyncOpenAI, google: Google
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Toronto and Madrid?"}]
    r = await client.chat.completions.create(
        model="gemini-parallel", messages=messages, tools=[WEATHER_TOOL]
    )
    calls = r.choices[0].message.tool_calls
    assert calls is not None and len({c.id for c in calls}) == 2
    assert [orjson.loads(c.function.arguments)["location"] for c in calls] == ["Toronto", "Madrid"]
    messages.append(r.choices[0].message.model_dump(exclude_none=True))
    for c, temp in zip(calls, (24, 31), strict=True):
        messages.append({"role": "tool", "tool_call_id": c.id, "content": f'{{"temp_c": {temp}}}'})
    r2 = await client.chat.completions.create(
        model="gemini-parallel", messages=messages, tools=[WEATHER_TOOL]
    )
    assert r2.choices[0].message.content
    last = google.mock.calls[1].body["contents"][-1]
    assert [p["functionResponse"]["response"]["temp_c"] for p in last["parts"]] == [24, 31]


async def test_json_schema_output(client: openai.AsyncOpenAI, google: Google) -> None:
    r = await client.chat.completions.create(
        model="gemini-json",
        messages=[{"role": "user", "content": "A famous scientist, as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "born": {"type": "integer"},
                        "fields": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["name", "born", "fields"],
                    "additionalProperties": False,
                },
            },
        },
    )
    content = r.choices[0].message.content
    assert content is not None and orjson.loads(content)["name"] == "Ada Lovelace"
    cfg = google.mock.calls[0].body["generationConfig"]
    assert cfg["responseMimeType"] == "application/json"
    assert cfg["responseSchema"]["propertyOrdering"] == ["name", "born", "fields"]


async def test_image_data_url(client: openai.AsyncOpenAI, google: Google) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    await client.chat.completions.create(
        model="gemini-text",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            }
        ],
    )
    parts = google.mock.calls[0].body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": png}}
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(
            model="gemini-text",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert "data URL" in e.value.message
    assert len(google.mock.calls) == 1  # refused before any upstream call


async def test_finish_reasons_and_blocked_prompt(client: openai.AsyncOpenAI) -> None:
    msgs: Any = [{"role": "user", "content": "x"}]
    r = await client.chat.completions.create(model="gemini-length", messages=msgs, max_tokens=5)
    assert r.choices[0].finish_reason == "length"
    r = await client.chat.completions.create(model="gemini-safety", messages=msgs)
    assert r.choices[0].finish_reason == "content_filter"
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(
                model="gemini-blocked", messages=msgs, stream=stream
            )
        assert "blocked" in e.value.message and "PROHIBITED_CONTENT" in e.value.message


async def test_cut_stream_is_an_error(client: openai.AsyncOpenAI) -> None:
    for model, text in (("gemini-cut", "ended before"), ("gemini-stream-error", "overloaded")):
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], stream=True
        )
        got: list[str] = []
        with pytest.raises(openai.APIError) as e:
            async for c in stream:
                if c.choices and c.choices[0].delta.content:
                    got.append(c.choices[0].delta.content)
        assert text in str(e.value)
        assert got  # the part that did arrive, then the error: never a silently short answer


@pytest.mark.parametrize(
    ("model", "exc", "status", "text"),
    [
        ("gemini-ratelimited", openai.RateLimitError, 429, "exceeded your current quota"),
        ("gemini-invalid", openai.BadRequestError, 400, "max_output_tokens must be positive"),
        ("gemini-unavailable", openai.InternalServerError, 502, "overloaded"),
        ("gemini-missing", openai.NotFoundError, 404, "is not found"),
    ],
)
async def test_error_classes(
    client: openai.AsyncOpenAI, model: str, exc: type, status: int, text: str
) -> None:
    with pytest.raises(exc) as e:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == status
    assert text in e.value.message
    if status == 429:
        assert e.value.response.headers["retry-after"] == "17"


async def test_embeddings(client: openai.AsyncOpenAI, google: Google) -> None:
    r = await client.embeddings.create(
        model="embed",
        input=["hello", "goodbye"],
        encoding_format="float",
        extra_body={"task_type": "RETRIEVAL_DOCUMENT"},
    )
    assert [d.embedding for d in r.data] == [fake_vector("hello"), fake_vector("goodbye")]
    assert r.usage.prompt_tokens > 0
    one = await client.embeddings.create(model="embed", input="some query")  # base64
    assert one.data[0].embedding == pytest.approx(fake_vector("some query"), rel=1e-6)
    first, second = google.mock.calls
    if google.kind == "gemini":
        assert first.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
        assert first.body["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
        assert second.path == "/v1beta/models/text-embedding-004:embedContent"
    else:
        assert first.path.endswith("/publishers/google/models/text-embedding-004:predict")
        assert first.body["instances"][0] == {"content": "hello", "task_type": "RETRIEVAL_DOCUMENT"}
        assert r.usage.prompt_tokens == 2  # Vertex's own token counts
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="embed", input=[[1, 2, 3]])


async def test_refused_credentials_say_so_without_echo(google: Google, start_gateway: Any) -> None:
    msgs: Any = [{"role": "user", "content": "x"}]
    if google.kind == "gemini":
        gw = await start_gateway(google.config(api_key="gm-wrong-key"))
    else:
        assert google.tokens is not None
        gw = await start_gateway(google.config())
        await gw.openai().chat.completions.create(model="gemini-text", messages=msgs)
        google.tokens.issued.clear()  # the token the gateway holds is revoked early
    with pytest.raises(openai.InternalServerError) as e:
        await gw.openai().chat.completions.create(model="gemini-text", messages=msgs)
    assert e.value.status_code == 502 and e.value.code == "upstream_auth_failed"
    assert "refused the gateway's" in e.value.message
    assert "gm-wrong-key" not in e.value.response.text
    assert "API key not valid" not in e.value.response.text
    assert "Expected OAuth 2 access token" not in e.value.response.text
    if google.kind == "vertex":
        # The refused token was dropped: the next request fetches a new one and succeeds.
        assert google.tokens is not None and google.tokens.requests == 1
        r = await gw.openai().chat.completions.create(model="gemini-text", messages=msgs)
        assert r.choices[0].message.content and google.tokens.requests == 2


async def test_failover_to_another_provider(
    google: Google, mock: MockOpenAI, start_gateway: Any
) -> None:
    cfg = google.config()
    cfg["providers"]["backup"] = {
        "type": "openai",
        "base_url": mock.url,
        "api_key": "sk-upstream-secret",
    }
    cfg["models"]["smart"] = {
        "deployments": [
            {"provider": "g", "model": "gemini-unavailable", "weight": 1e6},
            {"provider": "backup", "model": "upstream-model", "weight": 1e-6},
        ]
    }
    gw = await start_gateway(cfg)
    client = gw.openai()
    r = await client.chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "x"}]
    )
    assert r.choices[0].message.content == mock.text
    assert [c.path.rsplit(":", 1)[0].rsplit("/", 1)[-1] for c in google.mock.calls] == [
        "gemini-unavailable"
    ]
    stream = await client.chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "y"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == mock.text
    assert len(mock.calls) == 2


async def test_enabled_from_the_environment(
    tmp_path: Path, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aigw import config as configmod

    gm = Google("gemini", tmp_path)
    vx = Google("vertex", tmp_path)
    await gm.start()
    await vx.start()
    try:
        assert vx.tokens is not None
        key_file = str(vx.tokens.service_account(tmp_path))
        env = {
            "GEMINI_API_KEY": GEMINI_KEY,
            "GOOGLE_GEMINI_BASE_URL": gm.mock.url,
            "GOOGLE_CLOUD_PROJECT": "my-project",
            "GOOGLE_APPLICATION_CREDENTIALS": key_file,
            "GOOGLE_VERTEX_BASE_URL": vx.mock.url,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)  # google-auth reads the key file's path itself
        monkeypatch.setenv("AIGW_DATA_DIR", str(tmp_path / "data"))
        cfg = configmod.defaults_from_env(env)
        assert {n: p.type for n, p in cfg.providers.items()} == {
            "gemini": "gemini",
            "vertex": "vertex",
        }
        assert cfg.models["gemini-2.5-flash"].deployments[0].provider == "gemini"
        cfg.auth.required = False
        gw = await start_gateway(cfg)
        client = gw.openai()
        r = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )
        assert r.choices[0].message.content
        r = await client.chat.completions.create(
            model="vertex/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )
        assert r.choices[0].message.content
        assert gm.mock.calls[0].headers["x-goog-api-key"] == GEMINI_KEY
        assert vx.mock.calls[0].path.startswith(
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
        )
    finally:
        await gm.stop()
        await vx.stop()


async def test_gemini_fields_through_extra_body(client: openai.AsyncOpenAI, google: Google) -> None:
    await client.chat.completions.create(
        model="gemini-text",
        messages=[{"role": "user", "content": "x"}],
        extra_body={
            "thinkingConfig": {"thinkingBudget": 0},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
        },
    )
    sent = google.mock.calls[0].body
    assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert sent["safetySettings"][0]["threshold"] == "OFF"
