"""The core gateway through the official openai SDK: JSON, streams, embeddings, ids, headers."""

from __future__ import annotations

import base64
import struct

import openai
import orjson
import pytest

from aigw.bench.mock_upstream import DEFAULT_TEXT, MockOpenAI, fake_vector
from tests.conftest import mock_config

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


async def test_chat_completion_json(gw, mock: MockOpenAI) -> None:
    client = gw.openai()
    r = await client.chat.completions.create(model="gpt-test", messages=MSGS, temperature=0.2)
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens == len(DEFAULT_TEXT.split(" "))
    sent = mock.calls[-1]
    # The upstream model name replaces the client-facing one; everything else passes through.
    assert sent["body"]["model"] == "upstream-model"
    assert sent["body"]["messages"] == MSGS
    assert sent["body"]["temperature"] == 0.2
    # The provider's key goes upstream, never the client's.
    assert sent["headers"]["Authorization"] == "Bearer sk-upstream-secret"


async def test_stream_text_equals_upstream_and_usage_only_when_asked(gw, mock: MockOpenAI) -> None:
    client = gw.openai()
    stream = await client.chat.completions.create(model="gpt-test", messages=MSGS, stream=True)
    text, roles, finishes, usages = "", [], [], []
    async for chunk in stream:
        usages.append(chunk.usage)
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.delta.role:
                roles.append(c.delta.role)
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert text == DEFAULT_TEXT
    assert roles == ["assistant"] and finishes == ["stop"]
    assert all(u is None for u in usages)  # the client did not ask for usage
    # ... but the gateway asked the upstream for it anyway.
    assert mock.calls[-1]["body"]["stream_options"] == {"include_usage": True}

    stream = await client.chat.completions.create(
        model="gpt-test", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    last = None
    async for chunk in stream:
        last = chunk
    assert last is not None and last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == len(DEFAULT_TEXT.split(" "))


async def test_stream_is_sse_framed_and_ends_with_done(gw) -> None:
    body = {"model": "gpt-test", "messages": MSGS, "stream": True}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        raw = await r.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    assert events[-1] == b"data: [DONE]"
    chunks = [orjson.loads(e[6:]) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_request_id_is_kept_returned_and_passed_upstream(gw, mock: MockOpenAI) -> None:
    body = {"model": "gpt-test", "messages": MSGS}
    async with gw.http.post(
        gw.url + "/v1/chat/completions", json=body, headers={"X-Request-ID": "abc-123"}
    ) as r:
        assert r.status == 200
        assert r.headers["X-Request-ID"] == "abc-123"
        assert float(r.headers["x-aigw-upstream-ms"]) >= 0
    assert mock.calls[-1]["headers"]["X-Request-ID"] == "abc-123"
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body) as r:
        made = r.headers["X-Request-ID"]
    assert made.startswith("req_") and mock.calls[-1]["headers"]["X-Request-ID"] == made


async def test_unsafe_request_id_is_replaced(gw) -> None:
    async with gw.http.get(
        gw.url + "/health", headers={"X-Request-ID": "bad id with spaces " + "x" * 200}
    ) as r:
        assert r.headers["X-Request-ID"].startswith("req_")


async def test_embeddings_float_and_base64(gw, mock: MockOpenAI) -> None:
    client = gw.openai()
    # The SDK asks for base64 by default and decodes it.
    r = await client.embeddings.create(model="embed-test", input=["one", "two"])
    assert [d.index for d in r.data] == [0, 1]
    assert r.data[0].embedding == pytest.approx(fake_vector("one", 8), abs=1e-6)
    assert mock.calls[-1]["body"]["encoding_format"] == "base64"
    assert mock.calls[-1]["body"]["model"] == "upstream-embed"
    r = await client.embeddings.create(model="embed-test", input="one", encoding_format="float")
    assert r.data[0].embedding == pytest.approx(fake_vector("one", 8), abs=1e-6)
    raw = {"model": "embed-test", "input": "two", "encoding_format": "base64"}
    async with gw.http.post(gw.url + "/v1/embeddings", json=raw) as resp:
        b64 = (await resp.json())["data"][0]["embedding"]
    floats = struct.unpack("<8f", base64.b64decode(b64))
    assert list(floats) == pytest.approx(fake_vector("two", 8), abs=1e-6)


async def test_models_list_and_get(gw) -> None:
    client = gw.openai()
    page = await client.models.list()
    assert {m.id for m in page.data} == {"gpt-test", "embed-test"}
    assert all(m.object == "model" for m in page.data)
    m = await client.models.retrieve("gpt-test")
    assert m.owned_by == "mock"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


async def test_provider_slash_model_reaches_unlisted_models(gw, mock: MockOpenAI) -> None:
    r = await gw.openai().chat.completions.create(model="mock/some-new-model", messages=MSGS)
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert mock.calls[-1]["body"]["model"] == "some-new-model"
    # Reachable, but not listed: /v1/models shows the configured names only.
    assert "mock/some-new-model" not in {m.id for m in (await gw.openai().models.list()).data}


async def test_health_needs_nothing(gw) -> None:
    async with gw.http.get(gw.url + "/health") as r:
        assert r.status == 200 and (await r.json()) == {"status": "ok"}


async def test_deployments_list_fails_over_to_next(mock: MockOpenAI, start_gateway) -> None:
    dead = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    cfg = mock_config(mock.url)
    cfg["providers"]["dead"] = {"type": "openai", "base_url": dead, "api_key": "k"}
    cfg["models"]["ha"] = [
        {"provider": "dead", "model": "x", "weight": 1000},
        {"provider": "mock", "model": "y", "weight": 0.001},
    ]
    g = await start_gateway(cfg)
    r = await g.openai().chat.completions.with_raw_response.create(model="ha", messages=MSGS)
    assert r.headers["x-aigw-deployment"] == "mock/y"
    assert int(r.headers["x-aigw-attempts"]) >= 2
    assert mock.calls[-1]["body"]["model"] == "y"
