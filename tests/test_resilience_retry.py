"""Retries of one deployment: backoff with full jitter, Retry-After, caps, only retryable
failures, never after a stream has started. Waits are observed through a fake clock."""

from __future__ import annotations

import random

import openai
import pytest
from tenacity import RetryCallState

from aigw.bench.mock_upstream import Fail, MockOpenAI
from aigw.routing.retry import wait_full_jitter_or_retry_after
from aigw.types import GatewayError
from tests.helpers_routing import MSGS, routed_config, use_fake_time

ONE = {"gpt-test": {"provider": "mock", "model": "upstream-model"}}


def retrying(mock: MockOpenAI, **retries) -> dict:
    r = {"max_attempts": 4, "base_delay": 0.1, "max_delay": 10, "max_total": 60, **retries}
    return routed_config(mock.url, ONE, retries=r)


async def _chat(g, **kw):
    resp = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test", messages=MSGS, **kw
    )
    return resp, resp.parse()


def test_full_jitter_waits_grow_and_vary() -> None:
    w = wait_full_jitter_or_retry_after(0.1, 10.0, random.Random(7))
    by_attempt = {}
    for n in (1, 2, 3, 4):
        rs = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        rs.attempt_number = n
        samples = [w(rs) for _ in range(400)]
        assert all(0 <= s <= 0.1 * 2 ** (n - 1) for s in samples)  # full jitter: [0, cap]
        assert len(set(samples)) > 300  # jittered, not a fixed step
        by_attempt[n] = sum(samples) / len(samples)
    assert by_attempt[1] < by_attempt[2] < by_attempt[3] < by_attempt[4]
    assert w.ceiling(20) == 10.0  # capped by max_delay


async def test_5xx_is_retried_with_growing_jittered_waits(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock))
    ft = use_fake_time(g)

    class Top(random.Random):  # draws near the top of each jitter range
        def uniform(self, a: float, b: float) -> float:
            return b * 0.9

    g.gateway.dispatcher.retry.rng = Top()
    mock.fail(Fail(500), Fail(502), Fail(503))
    resp, out = await _chat(g)
    assert out.choices[0].message.content
    assert resp.headers["x-aigw-attempts"] == "4"
    assert mock.count == 4
    assert ft.waits == pytest.approx([0.09, 0.18, 0.36])


async def test_waits_are_random_within_the_backoff_ceiling(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock, base_delay=1.0))
    ft = use_fake_time(g)
    mock.fail(Fail(500), Fail(500), Fail(500))
    resp, _ = await _chat(g)
    assert resp.headers["x-aigw-attempts"] == "4"
    assert len(ft.waits) == 3
    for n, w in enumerate(ft.waits):
        assert 0 <= w <= 2**n


async def test_retry_after_is_honoured(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock))
    ft = use_fake_time(g)
    mock.fail(Fail(429, headers={"Retry-After": "3"}))
    resp, _ = await _chat(g)
    assert resp.headers["x-aigw-attempts"] == "2"
    assert ft.waits[0] >= 3.0


async def test_retry_after_beyond_max_delay_is_not_slept(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock, max_delay=5))
    ft = use_fake_time(g)
    mock.fail(Fail(429, headers={"Retry-After": "60"}))
    with pytest.raises(openai.RateLimitError) as ei:
        await _chat(g)
    assert ei.value.response.headers["Retry-After"] == "60"
    assert ei.value.response.headers["x-aigw-attempts"] == "1"
    assert ft.waits == [] and mock.count == 1


async def test_529_timeout_and_reset_are_retried(mock: MockOpenAI, start_gateway):
    cfg = retrying(mock)
    cfg["providers"]["mock"]["timeout"] = "300ms"
    g = await start_gateway(cfg)
    use_fake_time(g)
    # 529 (overloaded), a first byte slower than the provider timeout, a dropped connection.
    mock.fail(Fail(529), Fail(200, delay=1.5), Fail(reset=True))
    resp, out = await _chat(g)
    assert out.choices[0].message.content
    assert resp.headers["x-aigw-attempts"] == "4"


async def test_slow_first_byte_within_the_timeout_is_not_a_failure(mock, start_gateway):
    cfg = retrying(mock)
    cfg["providers"]["mock"]["timeout"] = "5s"
    g = await start_gateway(cfg)
    ft = use_fake_time(g)
    mock.fail(Fail(delay=0.2, then_ok=True))
    resp, out = await _chat(g, stream=False)
    assert out.choices[0].message.content
    assert resp.headers["x-aigw-attempts"] == "1" and ft.waits == []


async def test_client_errors_are_not_retried(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock))
    ft = use_fake_time(g)
    mock.fail(Fail(400, body={"error": {"message": "bad", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError):
        await _chat(g)
    assert mock.count == 1 and ft.waits == []


async def test_total_time_cap_stops_retrying(mock: MockOpenAI, start_gateway):
    g = await start_gateway(retrying(mock, max_attempts=10, max_total=1.5, max_delay=2))
    ft = use_fake_time(g)
    mock.fail(*[Fail(503, headers={"Retry-After": "1"}) for _ in range(5)])
    with pytest.raises(openai.InternalServerError) as ei:
        await _chat(g)
    assert ei.value.status_code == 502
    # waited 1s once; a second 1s wait would pass the 1.5s budget, so it stopped there
    assert ft.waits == [1.0]
    assert mock.count == 2
    assert ei.value.response.headers["x-aigw-attempts"] == "2"


async def test_stream_failing_before_its_first_chunk_is_retried(mock, start_gateway):
    g = await start_gateway(retrying(mock))
    use_fake_time(g)
    mock.fail(Fail(500))
    resp = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test", messages=MSGS, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in resp.parse() if c.choices])
    assert text == mock.text
    assert resp.headers["x-aigw-attempts"] == "2"


async def test_nothing_is_retried_after_a_stream_started(mock, start_gateway):
    g = await start_gateway(retrying(mock))
    ft = use_fake_time(g)
    mock.fail(Fail(200, after_chunks=2))
    stream = await g.openai().chat.completions.create(model="gpt-test", messages=MSGS, stream=True)
    got = ""
    with pytest.raises(openai.APIError):
        async for c in stream:
            for ch in c.choices:
                got += ch.delta.content or ""
    assert got and got != mock.text
    assert mock.count == 1 and ft.waits == []
    snap = g.gateway.dispatcher.snapshot()["mock/upstream-model"]
    assert snap["in_flight"] == 0


async def test_retry_policy_stops_when_blocked() -> None:
    from aigw.routing.retry import RetryPolicy
    from aigw.routing.settings import RetrySettings

    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise GatewayError(502, "down", retryable=True)

    async def no_sleep(_: float) -> None:
        return None

    p = RetryPolicy(RetrySettings(max_attempts=5), sleep=no_sleep)
    with pytest.raises(GatewayError):
        await p.call(fail, float("inf"), lambda: calls >= 2)  # e.g. the breaker opened
    assert calls == 2
