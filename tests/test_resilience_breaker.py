"""Circuit breakers: open after failures, skip while open, one half-open probe, close again;
visible in /v1/admin/deployments; shared by two gateways through Redis."""

from __future__ import annotations

import openai
import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI
from aigw.routing.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from aigw.routing.settings import BreakerSettings
from tests.helpers_routing import MSGS, routed_config, until, upstream_models, use_fake_time


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_consecutive_failures_open_then_one_probe_then_close() -> None:
    c = Clock()
    b = Breaker(BreakerSettings(failure_threshold=3, cooldown=10), c)
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert b.state == CLOSED
    b.success()  # a success resets the run of failures
    for _ in range(3):
        b.failure()
    assert b.state == OPEN and not b.allow() and not b.available()
    c.t = 9.9
    assert not b.allow()
    c.t = 10.0
    assert b.available()
    assert b.allow()  # the one probe
    assert b.state == HALF_OPEN
    assert not b.allow() and not b.available()  # nobody else while it is out
    b.success()
    assert b.state == CLOSED and b.allow()


def test_failed_probe_reopens_for_a_longer_cooldown() -> None:
    c = Clock()
    b = Breaker(BreakerSettings(failure_threshold=1, cooldown=10, max_cooldown=25), c)
    b.failure()
    assert b.open_until == 10
    c.t = 10
    assert b.allow()
    b.failure()
    assert b.state == OPEN and b.open_until == 10 + 20  # doubled
    c.t = 30
    assert b.allow()
    b.failure()
    assert b.open_until == 30 + 25  # capped by max_cooldown
    c.t = 55
    assert b.allow()
    b.release_probe()  # a cancelled probe tells nothing: another may go
    assert b.allow()


def test_error_rate_over_the_window_opens() -> None:
    c = Clock()
    s = BreakerSettings(failure_threshold=100, error_rate=0.5, window=10, min_requests=10)
    b = Breaker(s, c)
    b.failure()
    for i in range(9):  # alternating: never 100 in a row, but half of them fail
        c.t += 0.1
        b.success() if i % 2 else b.failure()
    assert b.state == OPEN
    # old failures leave the window
    b2 = Breaker(s, c)
    for _ in range(4):
        b2.failure()
    c.t += 11
    for _ in range(9):
        b2.success()
    b2.failure()
    assert b2.state == CLOSED


MODELS = {
    "m": {"provider": "mock", "model": "a1", "fallbacks": ["backup"]},
    "backup": {"provider": "mock", "model": "b1"},
}
BREAKER = {"failure_threshold": 2, "cooldown": 10}


async def _admin(g, key: str = "admin-secret"):
    async with g.http.get(
        g.url + "/v1/admin/deployments", headers={"Authorization": f"Bearer {key}"}
    ) as r:
        return r.status, await r.json()


async def test_breaker_skips_probes_and_closes_end_to_end(
    mock: MockOpenAI, start_gateway, monkeypatch
):
    monkeypatch.setenv("AIGW_ADMIN_KEY", "admin-secret")
    g = await start_gateway(routed_config(mock.url, MODELS, breaker=BREAKER))
    ft = use_fake_time(g)
    mock.fail(Fail(500, model="a1"), Fail(500, model="a1"))
    for _ in range(2):
        await g.openai().chat.completions.create(model="m", messages=MSGS)
    assert upstream_models(mock) == ["a1", "b1", "a1", "b1"]
    status, body = await _admin(g)
    assert status == 200
    a1 = next(d for d in body["data"] if d["id"] == "mock/a1")
    assert a1["breaker_state"] == "open" and a1["failures"] == 2

    # open: a1 is skipped without a call
    resp = await g.openai().chat.completions.with_raw_response.create(model="m", messages=MSGS)
    assert upstream_models(mock)[4:] == ["b1"]
    assert resp.headers["x-aigw-attempts"] == "1"

    # after the cool-down one probe goes to a1; it works, the breaker closes
    ft.now += 10
    await g.openai().chat.completions.create(model="m", messages=MSGS)
    assert upstream_models(mock)[5:] == ["a1"]
    _, body = await _admin(g)
    assert next(d for d in body["data"] if d["id"] == "mock/a1")["breaker_state"] == "closed"


async def test_all_breakers_open_is_503_with_retry_after(mock: MockOpenAI, start_gateway):
    one = {"m": {"provider": "mock", "model": "a1"}}
    g = await start_gateway(routed_config(mock.url, one, breaker=BREAKER))
    use_fake_time(g)
    mock.fail(Fail(500), Fail(500))
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await g.openai().chat.completions.create(model="m", messages=MSGS)
    with pytest.raises(openai.APIStatusError) as ei:
        await g.openai().chat.completions.create(model="m", messages=MSGS)
    assert ei.value.status_code == 503
    assert ei.value.code == "deployments_unavailable"
    assert ei.value.response.headers["Retry-After"] == "10"
    assert mock.count == 2


async def test_admin_route_needs_the_admin_key(gw, monkeypatch):
    monkeypatch.setenv("AIGW_ADMIN_KEY", "admin-secret")
    status, _ = await _admin(gw, "wrong")
    assert status in (401, 403)
    async with gw.http.get(gw.url + "/v1/admin/deployments") as r:
        assert r.status == 401
    status, body = await _admin(gw)
    assert status == 200 and [d["id"] for d in body["data"]] == [
        "mock/upstream-embed",
        "mock/upstream-model",
    ]


async def test_breaker_state_is_shared_through_redis(
    mock: MockOpenAI, start_gateway, redis_url, redis_prefix
):
    cfg = routed_config(
        mock.url, MODELS, breaker=BREAKER, redis_url=redis_url, redis_prefix=redis_prefix
    )
    g1 = await start_gateway(cfg)
    g2 = await start_gateway(cfg)
    mock.fail(Fail(500, model="a1"), Fail(500, model="a1"))
    for _ in range(2):
        await g1.openai().chat.completions.create(model="m", messages=MSGS)
    d2 = g2.gateway.dispatcher
    await until(lambda: d2.snapshot()["mock/a1"]["breaker_state"] == "open")
    before = mock.count
    await g2.openai().chat.completions.create(model="m", messages=MSGS)
    assert upstream_models(mock)[before:] == ["b1"]  # g2 never tried a1 itself

    # a gateway started later reads the open breaker from Redis
    g3 = await start_gateway(cfg)
    assert g3.gateway.dispatcher.snapshot()["mock/a1"]["breaker_state"] == "open"

    # g1's successful probe closes it everywhere
    b1 = g1.gateway.dispatcher.states["mock/a1"].breaker
    b1.open_until = 0  # the cool-down is over (for g1)
    await g1.openai().chat.completions.create(model="m", messages=MSGS)
    assert b1.state == CLOSED
    await until(lambda: d2.snapshot()["mock/a1"]["breaker_state"] == "closed")


async def test_disabled_breaker_never_opens(mock: MockOpenAI, start_gateway):
    one = {"m": {"provider": "mock", "model": "a1"}}
    g = await start_gateway(
        routed_config(mock.url, one, breaker={"enabled": False, "failure_threshold": 1})
    )
    mock.fail(*[Fail(500) for _ in range(5)])
    for _ in range(5):
        with pytest.raises(openai.InternalServerError):
            await g.openai().chat.completions.create(model="m", messages=MSGS)
    assert g.gateway.dispatcher.snapshot()["mock/a1"]["breaker_state"] == "closed"
    await g.openai().chat.completions.create(model="m", messages=MSGS)
    assert mock.count == 6
