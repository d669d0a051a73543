"""Bad input and upstream failures leave the gateway in OpenAI's error shape, right status."""

from __future__ import annotations

import asyncio

import openai
import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI
from tests.conftest import mock_config

MSGS = [{"role": "user", "content": "hi"}]


async def _post(gw, body: bytes | dict, path: str = "/v1/chat/completions", **kw):
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
    async with gw.http.post(gw.url + path, **kwargs, **kw) as r:
        return r.status, await r.json(), r.headers


def _shape(err: dict) -> dict:
    assert set(err) == {"error"}
    assert set(err["error"]) == {"message", "type", "param", "code"}
    return err["error"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"[1, 2]", None, "invalid_json"),
        ({"messages": MSGS}, "model", None),
        ({"model": "gpt-test"}, "messages", None),
        ({"model": "gpt-test", "messages": []}, "messages", None),
        ({"model": "gpt-test", "messages": ["hi"]}, "messages[0]", None),
        ({"model": "gpt-test", "messages": MSGS, "stream": "yes"}, "stream", None),
        ({"model": "gpt-test", "messages": MSGS, "max_tokens": ["1"]}, "max_tokens", None),
        ({"model": "gpt-test", "messages": MSGS, "max_tokens": 0}, "max_tokens", None),
        (
            {"model": "gpt-test", "messages": MSGS, "max_completion_tokens": 1.5},
            "max_completion_tokens",
            None,
        ),
    ],
)
async def test_bad_requests_are_400(gw, mock: MockOpenAI, body, param, code) -> None:
    status, err, headers = await _post(gw, body)
    assert status == 400
    e = _shape(err)
    assert e["type"] == "invalid_request_error" and e["param"] == param and e["code"] == code
    assert headers["X-Request-ID"]
    assert mock.count == 0


async def test_bad_embeddings_are_400(gw) -> None:
    for body, param in [
        ({"model": "embed-test"}, "input"),
        ({"model": "embed-test", "input": ""}, "input"),
        ({"model": "embed-test", "input": [{"a": 1}]}, "input"),
        ({"model": "embed-test", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "embed-test", "input": "x", "dimensions": [None]}, "dimensions"),
        ({"model": "embed-test", "input": "x", "dimensions": True}, "dimensions"),
    ]:
        status, err, _ = await _post(gw, body, "/v1/embeddings")
        assert status == 400 and _shape(err)["param"] == param


async def test_unknown_model_is_404_for_the_sdk(gw) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        await gw.openai().chat.completions.create(model="no-such-model", messages=MSGS)
    assert ei.value.status_code == 404
    assert ei.value.code == "model_not_found"


async def test_body_over_the_cap_is_413(mock: MockOpenAI, start_gateway) -> None:
    g = await start_gateway(mock_config(mock.url, server={"max_body_bytes": "2KB"}))
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as ei:
        await g.openai().chat.completions.create(model="gpt-test", messages=big)
    assert ei.value.status_code == 413
    assert "2000 bytes" in ei.value.message
    assert mock.count == 0


async def test_unknown_path_and_method(gw) -> None:
    async with gw.http.get(gw.url + "/v1/nothing") as r:
        assert r.status == 404 and _shape(await r.json())["code"] == "not_found"
    async with gw.http.get(gw.url + "/v1/chat/completions") as r:
        assert r.status == 405 and _shape(await r.json())["code"] == "method_not_allowed"


async def test_upstream_4xx_passes_through_faithfully(gw, mock: MockOpenAI) -> None:
    upstream_err = {
        "error": {
            "message": "Invalid value for 'temperature'.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    mock.fail(Fail(400, body=upstream_err))
    with pytest.raises(openai.BadRequestError) as ei:
        await gw.openai().chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.body == upstream_err["error"]
    # 401/403: the upstream refused the gateway's credentials, not the client's (a 502 with
    # the gateway's own message; tests/test_upstream_errors.py)
    mock.fail(Fail(401, body={"error": {"message": "Incorrect API key", "type": "x", "code": "k"}}))
    with pytest.raises(openai.InternalServerError) as e5:
        await gw.openai().chat.completions.create(model="gpt-test", messages=MSGS)
    assert (e5.value.status_code, e5.value.code) == (502, "upstream_auth_failed")


async def test_upstream_5xx_is_502_and_timeout_is_504(mock: MockOpenAI, start_gateway) -> None:
    cfg = mock_config(mock.url)
    cfg["providers"]["mock"]["timeout"] = "200ms"
    g = await start_gateway(cfg)
    mock.fail(Fail(500))
    with pytest.raises(openai.InternalServerError) as ei:
        await g.openai().chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.status_code == 502
    mock.fail(Fail(200, delay=2.0))
    with pytest.raises(openai.APIStatusError) as ei:
        await g.openai().chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.status_code == 504
    assert ei.value.code == "upstream_timeout"


async def test_unreachable_upstream_is_502_naming_the_reason_not_the_host(start_gateway) -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()  # nothing listens there any more: connections are refused
    g = await start_gateway(mock_config(f"http://127.0.0.1:{port}/v1"))
    status, err, _ = await _post(g, {"model": "gpt-test", "messages": MSGS})
    e = _shape(err)
    assert status == 502 and e["code"] == "upstream_unreachable"
    assert e["message"] == "mock: upstream unreachable (cannot connect: ConnectionRefusedError)"


async def test_upstream_redirect_is_a_clear_502_not_followed(gw, mock: MockOpenAI) -> None:
    where = "https://api.example.com/v1/chat/completions?token=sekret"
    mock.fail(Fail(308, headers={"Location": where}))
    for stream in (False, True):
        if stream:
            mock.fail(Fail(301, headers={"Location": where}))
        body = {"model": "gpt-test", "messages": MSGS, "stream": stream}
        status, err, _ = await _post(gw, body)
        e = _shape(err)
        assert status == 502 and e["code"] == "upstream_redirect"
        assert "https://api.example.com/v1/chat/completions" in e["message"]
        assert "base_url" in e["message"] and "sekret" not in e["message"]
    assert mock.count == 2  # one request each: nothing followed the redirect


async def test_upstream_429_keeps_retry_after(gw, mock: MockOpenAI) -> None:
    mock.fail(Fail(429, headers={"Retry-After": "7"}))
    with pytest.raises(openai.RateLimitError) as ei:
        await gw.openai().chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.response.headers["Retry-After"] == "7"


async def test_error_mid_stream_reaches_the_client(gw, mock: MockOpenAI) -> None:
    mock.fail(Fail(200, after_chunks=3))
    stream = await gw.openai().chat.completions.create(model="gpt-test", messages=MSGS, stream=True)
    got = ""
    with pytest.raises(openai.APIError) as ei:
        async for chunk in stream:
            for c in chunk.choices:
                got += c.delta.content or ""
    assert "mid-stream" in str(ei.value.message)
    assert got  # some text arrived before the failure


async def test_upstream_key_never_in_error_bodies(mock: MockOpenAI, start_gateway) -> None:
    cfg = mock_config(mock.url)
    cfg["providers"]["mock"]["base_url"] = "http://127.0.0.1:9/v1"
    g = await start_gateway(cfg)
    status, err, _ = await _post(g, {"model": "gpt-test", "messages": MSGS})
    assert status == 502 and "sk-upstream-secret" not in str(err)


async def test_client_disconnect_cancels_the_upstream_stream(
    mock: MockOpenAI, start_gateway
) -> None:
    mock.tokens_per_second = 20  # a long stream: 13 words at 50 ms each
    g = await start_gateway(mock_config(mock.url))
    body = {"model": "gpt-test", "messages": MSGS, "stream": True}
    resp = await g.http.post(g.url + "/v1/chat/completions", json=body)
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # the first chunk is through
    await asyncio.wait_for(mock.stream_started.wait(), 5)
    resp.close()  # the client goes away mid-stream
    async with asyncio.timeout(5):
        while mock.streams_cancelled == 0:
            await asyncio.sleep(0.01)  # polling the mock's counter, bounded by the timeout
    assert mock.streams_cancelled == 1 and mock.streams_completed == 0
    assert mock.active == 0
