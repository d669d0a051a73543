"""Failover: to the next deployment, then down the fallback chain, in order, logged."""

from __future__ import annotations

import logging
import random

import openai
import orjson
import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI
from aigw.observability.logging import JSONFormatter
from aigw.routing.balancer import Balancer, DeploymentState, DeploymentStates
from aigw.routing.breaker import Breaker
from aigw.routing.settings import BreakerSettings
from tests.helpers_routing import MSGS, routed_config, upstream_models

CHAIN = {
    "primary": {"provider": "mock", "model": "a1", "fallbacks": ["second", "third"]},
    "second": {"provider": "mock", "model": "b1"},
    "third": {"provider": "mock", "model": "c1"},
}


async def test_failover_follows_the_fallback_chain_in_order(
    mock: MockOpenAI, start_gateway, caplog
):
    g = await start_gateway(routed_config(mock.url, CHAIN))
    mock.fail(Fail(500, model="a1"), Fail(reset=True, model="b1"))
    with caplog.at_level(logging.WARNING, logger="aigw.routing"):
        resp = await g.openai().chat.completions.with_raw_response.create(
            model="primary", messages=MSGS
        )
    assert resp.parse().choices[0].message.content
    assert upstream_models(mock) == ["a1", "b1", "c1"]
    assert resp.headers["x-aigw-attempts"] == "3"
    assert resp.headers["x-aigw-deployment"] == "mock/c1"
    events = [r for r in caplog.records if getattr(r, "event", None) == "failover"]
    hops = [(getattr(r, "from"), r.to, r.reason) for r in events]
    assert hops == [
        ("mock/a1", "mock/b1", "upstream_error"),
        ("mock/b1", "mock/c1", "upstream_unreachable"),
    ]
    line = orjson.loads(JSONFormatter().format(events[0]))  # the log line as written
    assert line["msg"] == "failover" and line["from"] == "mock/a1" and line["to"] == "mock/b1"
    assert "sk-upstream-secret" not in JSONFormatter().format(events[1])


async def test_every_deployment_failing_returns_the_last_error(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, CHAIN))
    mock.fail(Fail(500, model="a1"), Fail(500, model="b1"), Fail(503, model="c1"))
    with pytest.raises(openai.InternalServerError) as ei:
        await g.openai().chat.completions.create(model="primary", messages=MSGS)
    assert ei.value.status_code == 502
    assert "503" in ei.value.message
    assert ei.value.response.headers["x-aigw-attempts"] == "3"


async def test_client_error_does_not_fail_over(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, CHAIN))
    mock.fail(Fail(400, model="a1", body={"error": {"message": "no", "type": "x"}}))
    with pytest.raises(openai.BadRequestError):
        await g.openai().chat.completions.create(model="primary", messages=MSGS)
    assert upstream_models(mock) == ["a1"]


async def test_deployments_of_one_model_then_fallbacks(mock: MockOpenAI, start_gateway):
    models = {
        "m": {
            "deployments": [
                {"provider": "mock", "model": "d1", "weight": 1},
                {"provider": "mock", "model": "d2", "weight": 1},
            ],
            "fallbacks": ["f"],
        },
        "f": {"provider": "mock", "model": "f1"},
    }
    g = await start_gateway(routed_config(mock.url, models))
    mock.fail(Fail(500, model="d1"), Fail(500, model="d2"))
    await g.openai().chat.completions.create(model="m", messages=MSGS)
    seen = upstream_models(mock)
    assert sorted(seen[:2]) == ["d1", "d2"] and seen[2] == "f1"


async def test_stream_fails_over_before_its_first_chunk(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, CHAIN))
    mock.fail(Fail(529, model="a1"))
    stream = await g.openai().chat.completions.create(model="primary", messages=MSGS, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == mock.text
    assert upstream_models(mock) == ["a1", "b1"]


def _targets(n: int, weights: list[float] | None = None):
    from aigw.config import from_dict

    deps = [
        {"provider": "p", "model": f"d{i}", "weight": (weights or [1] * n)[i]} for i in range(n)
    ]
    cfg = from_dict(
        {"providers": {"p": {"type": "openai", "base_url": "http://x"}}, "models": {"m": deps}}
    )
    from aigw.routing.router import Router

    return Router(cfg).targets("m")


def _states() -> DeploymentStates:
    return DeploymentStates(lambda t: DeploymentState(t.name, Breaker(BreakerSettings())))


def test_least_busy_prefers_fewest_in_flight() -> None:
    ts = _targets(3)
    states = _states()
    b = Balancer(states, random.Random(1))
    for t, n in zip(ts, (5, 0, 2), strict=True):
        states.of(t).in_flight = n
    assert [t.name for t in b.order("least_busy", ts)] == ["p/d1", "p/d2", "p/d0"]


def test_lowest_latency_prefers_low_ewma_and_tries_unmeasured_first() -> None:
    ts = _targets(3)
    states = _states()
    b = Balancer(states, random.Random(1))
    for _ in range(20):
        states.of(ts[0]).observe(300.0)
        states.of(ts[1]).observe(40.0)
    assert [t.name for t in b.order("lowest_latency", ts)] == ["p/d2", "p/d1", "p/d0"]
    states.of(ts[2]).observe(100.0)
    assert [t.name for t in b.order("lowest_latency", ts)] == ["p/d1", "p/d2", "p/d0"]


def test_weighted_follows_weights_and_skips_open_breakers() -> None:
    ts = _targets(2, [9, 1])
    states = _states()
    b = Balancer(states, random.Random(3))
    firsts = [b.order("weighted", ts)[0].name for _ in range(2000)]
    share = firsts.count("p/d0") / len(firsts)
    assert 0.85 < share < 0.95
    states.of(ts[0]).breaker.trip()
    assert [t.name for t in b.order("weighted", ts)] == ["p/d1"]
