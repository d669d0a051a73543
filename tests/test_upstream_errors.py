"""Upstream error bodies never carry a credential to a client or a log (issue 13, item 4).

A real `aigw serve` in front of the mock OpenAI upstream, which is made to echo the gateway's
provider key the way a self-hosted server echoing its Authorization header does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from aigw.bench.mock_upstream import Fail, MockOpenAI
from tests.conftest import mock_config
from tests.procs import ServeProcess

KEY = "sk-upstream-secret"
PLAIN_KEY = "plain-provider-credential-42"  # a configured key with no recognisable shape
SECRETS = (KEY, PLAIN_KEY, "sk-proj-abc", "eyJhbGciOiJIUzI1NiJ9")


def echo(status: int, message: str) -> Fail:
    return Fail(status, {"error": {"message": message, "type": "invalid_request_error"}})


async def post(s: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with s.post(url, json=body) as r:
        return r.status, await r.read()


def assert_clean(raw: bytes | str) -> None:
    text = raw.decode() if isinstance(raw, bytes) else raw
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked: {text[:400]}"


async def test_upstream_errors_are_scrubbed_for_clients_and_logs(
    mock: MockOpenAI, tmp_path: Path
) -> None:
    cfg = mock_config(mock.url, logging={"level": "info"})
    cfg["providers"]["plain"] = {"type": "openai", "base_url": mock.url, "api_key": PLAIN_KEY}
    cfg["models"]["plain-model"] = {"provider": "plain", "model": "upstream-model"}
    srv = ServeProcess(cfg, tmp_path)
    await srv.ready()
    chat = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    anthropic = {
        "model": "gpt-test",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
    }
    try:
        async with aiohttp.ClientSession() as s:
            # 401 from the upstream: the gateway's credentials were refused -> its own message
            mock.fail(echo(401, f"Incorrect API key provided: Bearer {KEY}."))
            status, raw = await post(s, srv.url + "/v1/chat/completions", chat)
            err = orjson.loads(raw)["error"]
            assert (status, err["code"]) == (502, "upstream_auth_failed")
            assert "Incorrect API key" not in err["message"]
            assert_clean(raw)

            # other 4xx: the message stays, the credentials go
            mock.fail(echo(400, f"bad value; headers were Authorization: Bearer {KEY}, key={KEY}"))
            status, raw = await post(s, srv.url + "/v1/chat/completions", chat)
            err = orjson.loads(raw)["error"]
            assert status == 400
            assert err["message"].startswith("bad value; headers were")
            assert "[redacted]" in err["message"]
            assert_clean(raw)

            mock.fail(echo(404, f"no such model for key {PLAIN_KEY} (was sk-proj-abc***xyz)"))
            status, raw = await post(
                s, srv.url + "/v1/chat/completions", {**chat, "model": "plain-model"}
            )
            assert status == 404 and b"no such model for key" in raw
            assert_clean(raw)

            # streams: before the first chunk, and a provider error event mid-stream
            mock.fail(echo(400, f"stream refused, token eyJhbGciOiJIUzI1NiJ9.abcdefghij.xyz {KEY}"))
            status, raw = await post(s, srv.url + "/v1/chat/completions", {**chat, "stream": True})
            assert status == 400
            assert_clean(raw)
            mock.fail(
                Fail(
                    500,
                    {"error": {"message": f"exploded with Bearer {KEY}", "type": "server_error"}},
                    after_chunks=2,
                )
            )
            status, raw = await post(s, srv.url + "/v1/chat/completions", {**chat, "stream": True})
            assert status == 200 and b"exploded with" in raw
            assert_clean(raw)

            # the same on Anthropic's Messages API
            mock.fail(echo(403, f"forbidden: {KEY}"))
            status, raw = await post(s, srv.url + "/v1/messages", anthropic)
            body = orjson.loads(raw)
            assert status == 502 and body["type"] == "error"
            assert_clean(raw)
            mock.fail(echo(422, f"unprocessable, api_key={KEY}"))
            status, raw = await post(s, srv.url + "/v1/messages", anthropic)
            assert status == 422 and b"unprocessable" in raw
            assert_clean(raw)
    finally:
        await srv.stop()
    assert mock.count >= 7
    log = srv.log_path.read_text()
    assert "upstream_auth_failed" in log  # the log saw the errors, and no secret with them
    assert_clean(log)
