"""The rate-limit stage in a running gateway: OpenAI's headers and 429, token reservations
that hold under concurrent streams and settle to real usage, overrides per key and org."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import openai
import pytest

from aigw.limits.tokens import reservation
from aigw.pipeline import JSONResult, RequestContext
from aigw.types import GatewayError, Principal
from tests.conftest import mock_config
from tests.helpers_limits import GatedMock, remaining, until


async def test_request_limit_headers_and_openai_429(mock: Any, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, rate_limiting={"requests_per_hour": 3}))
    client = gw.openai()
    seen = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
        seen.append(raw.headers["x-ratelimit-remaining-requests"])
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
    assert seen == ["2", "1", "0"]
    # Full again one hour after the first request (a few ms have passed since).
    assert re.fullmatch(r"1h0m0s|59m59\.\d+s", raw.headers["x-ratelimit-reset-requests"])
    assert mock.count == 3

    with pytest.raises(openai.RateLimitError) as ei:
        await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
    e = ei.value
    assert e.code == "rate_limit_exceeded" and e.type == "requests"
    assert "requests per hour (RPH)" in e.message and "Limit 3, Used 3" in e.message
    assert e.response.headers["Retry-After"] == "1200"  # one request refills in 3600/3 s
    assert 1199_000 <= int(e.response.headers["retry-after-ms"]) <= 1200_000
    assert e.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert mock.count == 3  # the refused request never reached the upstream


async def test_streams_with_large_max_tokens_cannot_overshoot_the_budget(
    start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    mock = GatedMock()
    await mock.start()
    try:
        gw = await start_gateway(
            mock_config(
                mock.url,
                rate_limiting={
                    "token_budget": 1000,
                    "redis_url": redis_url,
                    "redis_prefix": redis_prefix,
                },
            )
        )
        client = gw.openai()
        msgs = [{"role": "user", "content": "tell me a story"}]

        async def stream() -> int | None:
            try:
                s = await client.chat.completions.create(
                    model="gpt-test", messages=msgs, max_tokens=300, stream=True
                )
            except openai.RateLimitError:
                return None
            chunks = 0
            async for _ in s:
                chunks += 1
            return chunks

        tasks = [asyncio.create_task(stream()) for _ in range(10)]
        # Every request is either refused or held at the upstream: nothing has settled yet.
        await until(lambda: mock.waiting + sum(t.done() for t in tasks) == 10)
        reserve = reservation("chat", {"messages": msgs, "max_tokens": 300}, 1024)
        assert reserve == 300 + 11  # max_tokens + prompt estimate (3 + 4 per message + 4)
        assert mock.waiting == 1000 // reserve == 3
        assert await remaining(gw.gateway.limits, "key", "anonymous") == 1000 - 3 * reserve
        mock.gate.set()
        results = await asyncio.gather(*tasks)
        assert sum(r is None for r in results) == 7

        # Settled to the real usage the upstream reported for the three streams.
        real = sum(c["body"] and _usage(mock, c) for c in mock.calls)
        assert real > 0
        await until(lambda: _eq(remaining(gw.gateway.limits, "key", "anonymous"), 1000 - real))
    finally:
        await mock.stop()


def _usage(mock: GatedMock, call: dict[str, Any]) -> int:
    from aigw.bench.mock_upstream import count_tokens, prompt_text, words

    body = call["body"]
    return count_tokens(prompt_text(body["messages"])) + min(
        len(words(mock.text)), body.get("max_tokens") or 10**9
    )


async def _eq(value: Any, expected: int) -> bool:
    return await value == expected


async def test_overrides_from_the_principal(mock: Any, start_gateway: Any) -> None:
    gw = await start_gateway(
        mock_config(
            mock.url, rate_limiting={"requests_per_hour": 100, "org": {"requests_per_hour": 50}}
        )
    )
    stage = gw.gateway.limits

    async def ok(ctx: RequestContext) -> JSONResult:
        return JSONResult({})

    def ctx(org: str, key: str, limits: dict[str, Any]) -> RequestContext:
        p = Principal(org_id=org, key_id=key, limits=limits)
        return RequestContext("r", "chat", {"model": "m", "messages": []}, {}, "m", principal=p)

    async def admitted(org: str, key: str, limits: dict[str, Any], n: int) -> int:
        got = 0
        for _ in range(n):
            try:
                await stage.handle(ctx(org, key, limits), ok)
                got += 1
            except GatewayError as e:
                assert e.status == 429
        return got

    # Flat form: this key's own limit.
    assert await admitted("acme", "k1", {"requests_per_hour": 2}, 5) == 2
    # Per-scope form: this key's organisation is allowed 10 in all.
    assert await admitted("beta", "k2", {"org": {"requests_per_hour": 10}}, 20) == 10
    assert await admitted("beta", "k3", {"org": {"requests_per_hour": 10}}, 5) == 0
    # null switches a limit off: k4's own 100 is gone, the org default of 50 remains.
    assert await admitted("gamma", "k4", {"requests_per_hour": None}, 70) == 50
    # Without overrides the defaults hold: 100 per key, 50 per org.
    assert await admitted("delta", "k5", {}, 60) == 50


async def test_per_key_limits_from_the_store(
    mock: Any, start_gateway: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys created through the admin API carry their own limits; the auth stage hands them
    to the limiter through `Principal.limits`."""
    from tests.helpers_accounts import ADMIN_KEY, accounts_config

    monkeypatch.setenv("AIGW_ADMIN_KEY", ADMIN_KEY)
    cfg = accounts_config(
        mock.url, f"sqlite:///{tmp_path}/store.db", rate_limiting={"requests_per_hour": 5}
    )
    gw = await start_gateway(cfg)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def create(**body: Any) -> dict[str, Any]:
        async with gw.http.post(gw.url + "/v1/admin/api-keys", json=body, headers=admin) as r:
            assert r.status == 201, await r.text()
            return await r.json()

    tight = await create(org="acme", limits={"requests_per_hour": 2})
    plain = await create(org="acme")
    msgs = [{"role": "user", "content": "hi"}]

    async def admitted(key: str, n: int) -> int:
        got = 0
        for _ in range(n):
            try:
                raw = await gw.openai(key).chat.completions.with_raw_response.create(
                    model="gpt-test", messages=msgs
                )
                got += 1
            except openai.RateLimitError as e:
                assert key not in e.message  # the secret never reaches an error body
                assert tight["id"] in e.message or plain["id"] in e.message
        if got:
            limit = raw.headers["x-ratelimit-limit-requests"]
            assert limit == ("2" if key == tight["key"] else "5")
        return got

    assert await admitted(tight["key"], 4) == 2
    assert await admitted(plain["key"], 7) == 5


async def test_user_and_global_scopes(mock: Any, start_gateway: Any) -> None:
    gw = await start_gateway(
        mock_config(
            mock.url,
            rate_limiting={"user": {"requests_per_hour": 3}, "global": {"requests_per_hour": 8}},
        )
    )
    stage = gw.gateway.limits

    async def ok(ctx: RequestContext) -> JSONResult:
        return JSONResult({})

    async def admitted(org: str, key: str, user: str | None, n: int) -> int:
        got = 0
        for _ in range(n):
            p = Principal(org_id=org, key_id=key, user_id=user)
            ctx = RequestContext("r", "chat", {"messages": []}, {}, "m", principal=p)
            try:
                await stage.handle(ctx, ok)
                got += 1
            except GatewayError as e:
                assert e.status == 429 and e.code == "rate_limit_exceeded"
        return got

    # One user's limit spans all of that user's keys.
    assert await admitted("acme", "k1", "alice", 2) == 2
    assert await admitted("acme", "k2", "alice", 5) == 1
    # The same user id in another organisation is another user.
    assert await admitted("beta", "k3", "alice", 5) == 3
    # The global limit counts everyone: 6 used, 2 left for a caller without a user.
    assert await admitted("gamma", "k4", None, 5) == 2


async def test_token_headers_and_request_too_large(mock: Any, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, rate_limiting={"tokens_per_minute": 1000}))
    client = gw.openai()
    msgs = [{"role": "user", "content": "hi"}]
    reserve = reservation("chat", {"messages": msgs, "max_tokens": 200}, 1024)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=msgs, max_tokens=200
    )
    assert raw.headers["x-ratelimit-limit-tokens"] == "1000"
    assert raw.headers["x-ratelimit-remaining-tokens"] == str(1000 - reserve)
    assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert "x-ratelimit-limit-requests" not in raw.headers  # no request limit configured

    # A stated max_tokens that can never fit: "request too large", no point in retrying.
    with pytest.raises(openai.RateLimitError) as ei:
        await client.chat.completions.create(model="gpt-test", messages=msgs, max_tokens=2000)
    e = ei.value
    assert e.type == "tokens" and e.code == "rate_limit_exceeded"
    assert "Request too large" in e.message and "tokens per min (TPM)" in e.message
    assert "Retry-After" not in e.response.headers  # waiting would not help

    # No max_tokens: our default reservation (1024) is clipped to the limit, so it waits for a
    # full bucket rather than being refused forever.
    with pytest.raises(openai.RateLimitError) as ei:
        await client.chat.completions.create(model="gpt-test", messages=msgs)
    assert "Rate limit reached" in ei.value.message and "Requested 1000" in ei.value.message
    assert "Retry-After" in ei.value.response.headers


async def test_a_callers_checks_follow_its_overrides_at_once(mock: Any, start_gateway: Any) -> None:
    """The checks are planned once per caller, but a changed override (same key, new limits
    from the store) applies from the next request on."""
    gw = await start_gateway(mock_config(mock.url, rate_limiting={"requests_per_hour": 100}))
    stage = gw.gateway.limits

    async def ok(ctx: RequestContext) -> JSONResult:
        return JSONResult({})

    async def limit_shown(limits: dict[str, Any]) -> str:
        p = Principal(org_id="acme", key_id="k1", limits=limits)
        ctx = RequestContext("r", "chat", {"messages": []}, {}, "m", principal=p)
        await stage.handle(ctx, ok)
        return ctx.response_headers["x-ratelimit-limit-requests"]

    assert await limit_shown({}) == "100"
    assert await limit_shown({"requests_per_hour": 7}) == "7"
    assert await limit_shown({"requests_per_hour": 9}) == "9"
    assert await limit_shown({"key": {"requests_per_hour": 5}}) == "5"
    assert await limit_shown({}) == "100"


async def test_reservations_are_given_back_when_nothing_was_used(
    mock: Any, start_gateway: Any
) -> None:
    """Cache hits and failures before the upstream give back their whole reservation (the
    in-process backend settles without awaiting anything)."""
    gw = await start_gateway(mock_config(mock.url, rate_limiting={"tokens_per_minute": 10_000}))
    stage = gw.gateway.limits
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}
    reserve = reservation("chat", body, 1024)

    async def hit(ctx: RequestContext) -> JSONResult:
        ctx.cache = "hit"
        return JSONResult({})

    async def fail(ctx: RequestContext) -> JSONResult:
        raise GatewayError(502, "upstream down", "api_error", "bad_gateway")

    p = Principal(org_id="acme", key_id="k1")
    ctx = RequestContext("r", "chat", body, {}, "m", principal=p)
    await stage.handle(ctx, hit)
    assert ctx.response_headers["x-ratelimit-remaining-tokens"] == str(10_000 - reserve)
    assert await remaining(stage, "key", "k1", "acme") == 10_000 - reserve
    await ctx.finish()
    assert await remaining(stage, "key", "k1", "acme") == 10_000

    with pytest.raises(GatewayError):
        await stage.handle(RequestContext("r", "chat", body, {}, "m", principal=p), fail)
    assert await remaining(stage, "key", "k1", "acme") == 10_000
