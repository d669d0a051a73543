"""Redis cut mid-run (through a TCP proxy): the configured policy holds, no request hangs,
and the shared limits are exact again once Redis is back."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest

from tests.conftest import mock_config
from tests.helpers_limits import until
from tests.tcpproxy import TcpProxy

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def proxy(redis_url: str) -> Any:
    u = urlparse(redis_url)
    p = TcpProxy(u.hostname or "127.0.0.1", u.port or 6379)
    await p.start()
    yield p
    await p.stop()


def proxied(redis_url: str, proxy: TcpProxy) -> str:
    u = urlparse(redis_url)
    return f"redis://127.0.0.1:{proxy.port}{u.path}"


async def burst(gw: Any, n: int) -> list[int]:
    async def one() -> int:
        async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY) as r:
            await r.read()
            return r.status

    # No request may hang: the whole burst has a hard deadline far above redis_timeout.
    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 10)


async def metric(gw: Any, name: str) -> float:
    async with gw.http.get(gw.url + "/metrics") as r:
        assert r.status == 200
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def cfg(mock: Any, url: str, prefix: str, policy: str) -> dict[str, Any]:
    return mock_config(
        mock.url,
        rate_limiting={
            "requests_per_hour": 10,  # one refill per 6 minutes: none during the test
            "redis_url": url,
            "redis_prefix": prefix,
            "redis_timeout": "1s",  # a cut is a reset (no wait); 1s rides out a busy box
            "redis_retry_interval": "50ms",
            "on_redis_error": policy,
            "cluster_size": 2,
        },
    )


async def test_fail_open_limits_locally_then_exact_again(
    mock: Any,
    start_gateway: Any,
    redis_url: str,
    redis_prefix: str,
    proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw = await start_gateway(cfg(mock, proxied(redis_url, proxy), redis_prefix, "fail_open"))
    limiter = gw.gateway.limits.limiter
    assert await burst(gw, 4) == [200] * 4  # 4 of 10 counted in Redis

    caplog.set_level(logging.WARNING, logger="aigw.limits")
    proxy.cut()
    statuses = await burst(gw, 10)
    # This instance's share of the limit while Redis is away: 10 // cluster_size.
    assert statuses.count(200) == 5 and statuses.count(429) == 5
    assert limiter.state()["redis_up"] is False
    assert limiter.state()["fallback_decisions"] >= 10
    assert await metric(gw, "ratelimit_fallback_active") == 1
    assert await metric(gw, 'ratelimit_fallback_decisions{policy="fail_open"}') >= 10
    downs = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(downs) == 1  # logged once per outage, not per request
    assert redis_prefix not in caplog.text and str(proxy.port) not in caplog.text

    proxy.restore()
    await until(lambda: limiter.state()["redis_up"])
    assert await metric(gw, "ratelimit_fallback_active") == 0
    # Redis still holds the 4 counted before the outage: exactly 6 more are admitted.
    statuses = await burst(gw, 10)
    assert statuses.count(200) == 6 and statuses.count(429) == 4


async def test_fail_closed_refuses_while_redis_is_away(
    mock: Any, start_gateway: Any, redis_url: str, redis_prefix: str, proxy: TcpProxy
) -> None:
    gw = await start_gateway(cfg(mock, proxied(redis_url, proxy), redis_prefix, "fail_closed"))
    limiter = gw.gateway.limits.limiter
    assert await burst(gw, 3) == [200] * 3
    calls = mock.count

    proxy.cut()
    async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY) as r:
        assert r.status == 503
        err = (await r.json())["error"]
        assert err["code"] == "rate_limiter_unavailable"
        assert r.headers["Retry-After"] == "1"
    assert await burst(gw, 5) == [503] * 5
    assert mock.count == calls  # nothing reached the upstream unchecked

    proxy.restore()
    await until(lambda: limiter.state()["redis_up"])
    statuses = await burst(gw, 10)
    assert statuses.count(200) == 7 and statuses.count(429) == 3


async def test_unreachable_redis_at_start_does_not_block(
    mock: Any, start_gateway: Any, redis_prefix: str
) -> None:
    # Nothing listens on port 9: the gateway starts, limits locally, and answers at once.
    gw = await start_gateway(cfg(mock, "redis://127.0.0.1:9/0", redis_prefix, "fail_open"))
    assert gw.gateway.limits.limiter.state()["redis_up"] is False
    statuses = await burst(gw, 8)
    assert statuses.count(200) == 5 and statuses.count(429) == 3
    async with aiohttp.ClientSession() as s, s.get(gw.url + "/health") as r:
        assert r.status == 200


async def test_silent_redis_times_out_then_falls_back(
    mock: Any, start_gateway: Any, redis_url: str, redis_prefix: str, proxy: TcpProxy
) -> None:
    """Redis turns into a black hole (connections accepted, nothing answered) instead of
    refusing: each decision gives up after about 2 x redis_timeout, three timeouts in a row
    switch to the local limiter, and from then on requests do not wait at all."""
    sockets: list[asyncio.StreamWriter] = []

    async def silent(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        sockets.append(w)  # keep it open, say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        c = cfg(mock, proxied(redis_url, proxy), redis_prefix, "fail_open")
        c["rate_limiting"]["redis_timeout"] = "100ms"
        gw = await start_gateway(c)
        limiter = gw.gateway.limits.limiter
        assert await burst(gw, 2) == [200, 200]  # counted in Redis

        # New connections reach the silent server; the pool's old ones are closed cleanly
        # (a reset one would mark Redis down at once, which the other tests cover).
        proxy.target = ("127.0.0.1", server.sockets[0].getsockname()[1])
        await limiter.redis.reset()
        loop = asyncio.get_running_loop()
        waits = []
        for _ in range(5):
            t0 = loop.time()
            async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY) as r:
                assert r.status == 200  # fail_open: this decision is taken locally
            waits.append(loop.time() - t0)
        assert limiter.state()["redis_up"] is False
        assert limiter.state()["redis_errors"] == 3  # three timeouts, then no more tries
        # Bounded by 2 x redis_timeout (0.2s) + the request itself; generous for a busy box.
        assert all(w < 3.0 for w in waits)
        async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY) as r:
            assert r.status == 429  # the local share (10 // 2 = 5) is used up
    finally:
        for w in sockets:
            w.transport.abort()
        server.close()
        await server.wait_closed()
