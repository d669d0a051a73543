"""Regressions of issue 13 on the Anthropic side, against the running gateway:
malformed /v1/messages fields are a 400 in Anthropic's shape before any upstream call (item 6),
an Anthropic answer costs the same streamed and not, cache writes included (item 18), and
`model: "auto"` is routed on /v1/messages and its count_tokens as on chat (item 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.helpers_accounts import *  # noqa: F403  (fixtures: admin)
from tests.helpers_accounts import new_key
from tests.mock_providers import UPSTREAM_KEY, MockAnthropic, fixture_json
from tests.test_cost_router import GREETING, HARD_CODE
from tests.test_messages_endpoint import claude_config


@pytest.fixture
async def claude_upstream() -> Any:
    m = MockAnthropic()
    await m.start()
    yield m
    await m.stop()


# --- item 6: malformed Messages fields -> 400 before any upstream call ---------------------

GOOD: dict[str, Any] = {
    "model": "claude-sonnet",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Hello"}],
}
TOOL = {"name": "t", "input_schema": {"type": "object", "properties": {}}}
IMAGE_TEXT_SOURCE = [{"type": "image", "source": "https://example.com/a.png"}]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"stop_sequences": True}, "stop_sequences"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": [1, 2]}, "stop_sequences"),
        ({"tools": [TOOL], "tool_choice": [{"type": "auto"}]}, "tool_choice"),
        ({"tool_choice": ["auto"]}, "tool_choice"),
        (
            {"messages": [{"role": "user", "content": IMAGE_TEXT_SOURCE}]},
            "messages.0.content.0.source",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": [1]}]}]},
            "messages.0.content.0.source",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": "x"}]}]},
            "messages.0",
        ),
        ({"metadata": "u-1"}, "metadata"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_malformed_fields_are_a_400_in_anthropic_shape(
    claude_upstream: MockAnthropic,
    start_gateway: Any,
    patch: dict[str, Any],
    param: str,
    path: str,
) -> None:
    gw = await start_gateway(claude_config(claude_upstream.url, auth={"required": False}))
    for stream in (False, True):
        async with gw.http.post(gw.url + path, json={**GOOD, **patch, "stream": stream}) as r:
            assert r.status == 400, await r.text()
            body = await r.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["message"].startswith(param), body
        assert "Traceback" not in str(body)
    assert claude_upstream.calls == []


# --- item 18: the same Anthropic answer costs the same, streamed or not --------------------

# Anthropic's rates for a Sonnet: cache reads 10%, 5-minute cache writes 125% of input.
CLAUDE_PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75}


async def test_anthropic_answer_costs_the_same_streamed_or_not(
    claude_upstream: MockAnthropic, start_gateway: Any, tmp_path: Path, admin: dict[str, str]
) -> None:
    gw = await start_gateway(
        claude_config(
            claude_upstream.url,
            database=f"sqlite:///{tmp_path}/u.db",
            auth={"required": True},
            models={
                "claude-sonnet": {
                    "provider": "claude",
                    "model": "claude-text",
                    "price": CLAUDE_PRICE,
                }
            },
        )
    )
    key = (await new_key(gw, admin))["key"]
    oai = gw.openai(key)
    msgs: Any = [{"role": "user", "content": "Hello"}]
    ids = {"chat-json", "chat-stream", "messages-json", "messages-stream"}
    await oai.chat.completions.create(
        model="claude-sonnet", messages=msgs, extra_headers={"X-Request-ID": "chat-json"}
    )
    stream = await oai.chat.completions.create(
        model="claude-sonnet",
        messages=msgs,
        stream=True,
        extra_headers={"X-Request-ID": "chat-stream"},
    )
    async for _ in stream:
        pass
    claude = anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)
    await claude.messages.create(**GOOD, extra_headers={"X-Request-ID": "messages-json"})
    async with claude.messages.stream(
        **GOOD, extra_headers={"X-Request-ID": "messages-stream"}
    ) as s:
        await s.get_final_message()

    u = fixture_json("anthropic", "text.json")["usage"]  # the answer all four got
    assert u["cache_creation_input_tokens"] and u["cache_read_input_tokens"]
    expected = (
        u["input_tokens"] * 3.0
        + u["cache_read_input_tokens"] * 0.3
        + u["cache_creation_input_tokens"] * 3.75
        + u["output_tokens"] * 15.0
    ) / 1e6
    store = gw.gateway.accounts.store
    assert await gw.gateway.accounts.usage.flush()
    for rid in sorted(ids):
        (row,) = await store.usage_rows(rid)
        assert row["cost_usd"] == pytest.approx(expected), rid
        assert row["cached_tokens"] == u["cache_read_input_tokens"], rid
        prompt = sum(u[k] for k in ("input_tokens", "cache_read_input_tokens"))
        assert row["prompt_tokens"] == prompt + u["cache_creation_input_tokens"], rid
    assert len(claude_upstream.calls) == 4


# --- item 19: model "auto" on /v1/messages and count_tokens --------------------------------


async def test_auto_is_routed_on_messages_and_count_tokens(
    claude_upstream: MockAnthropic, mock: Any, start_gateway: Any
) -> None:
    gw = await start_gateway(
        claude_config(
            claude_upstream.url,
            providers={"oai": {"type": "openai", "base_url": mock.url, "api_key": UPSTREAM_KEY}},
            models={"gpt-test": {"provider": "oai", "model": "upstream-model"}},
            routers={"auto": {"strong": "claude-sonnet", "cheap": "gpt-test"}},
            auth={"required": False},
        )
    )
    client = anthropic.AsyncAnthropic(base_url=gw.url, api_key="sk-client", max_retries=0)

    easy: Any = [{"role": "user", "content": GREETING}]
    r = await client.messages.with_raw_response.create(model="auto", max_tokens=50, messages=easy)
    assert r.headers["x-aigw-route"] == "gpt-test; router=auto"
    assert (await r.parse()).content[0].text == mock.text  # type: ignore[union-attr]
    assert mock.count == 1 and claude_upstream.calls == []

    hard: Any = [{"role": "user", "content": HARD_CODE}]
    async with client.messages.stream(model="auto", max_tokens=50, messages=hard) as s:
        msg = await s.get_final_message()
    assert msg.id == "msg_01XFDUDYJgAACzvnptvVoYEL"  # the Anthropic upstream's own answer
    assert claude_upstream.calls[-1].body["model"] == "claude-text"

    # count_tokens: the routed model counts (an Anthropic deployment: its own count).
    c = await client.messages.with_raw_response.count_tokens(model="auto", messages=hard)
    assert c.headers["x-aigw-route"] == "claude-sonnet; router=auto"
    assert c.headers["x-aigw-token-count"] == "upstream"
    assert claude_upstream.calls[-1].path == "/v1/messages/count_tokens"
    assert (await c.parse()).input_tokens == 1000 + len(HARD_CODE.split())
    c = await client.messages.with_raw_response.count_tokens(model="auto", messages=easy)
    assert c.headers["x-aigw-route"] == "gpt-test; router=auto"
    assert c.headers["x-aigw-token-count"] == "estimate"
