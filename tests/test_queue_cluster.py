"""Two real `aigw serve` processes sharing Redis hold one cluster-wide concurrency cap per
deployment, and the slots of a killed instance free themselves after the lease TTL."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from aigw.bench.mock_upstream import MockOpenAI
from tests.helpers_routing import routed_config, until
from tests.procs import ServeProcess

CAP = 2


def _cfg(mock: MockOpenAI, redis_url: str, prefix: str, **queue) -> dict:
    models = {"gpt-test": {"provider": "mock", "model": "upstream-model", "max_concurrency": CAP}}
    return routed_config(
        mock.url,
        models,
        redis_url=redis_url,
        redis_prefix=prefix,
        queue={"max_wait": "30s", "lease_ttl": "1s", **queue},
    )


async def _post(s: aiohttp.ClientSession, url: str, tag: str, headers: dict | None = None):
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": tag}]}
    async with s.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        await r.read()
        return r.status


async def test_two_processes_share_one_concurrency_cap(
    mock: MockOpenAI, tmp_path, redis_url, redis_prefix
):
    cfg = _cfg(mock, redis_url, redis_prefix)
    procs = [ServeProcess(cfg, tmp_path / "a"), ServeProcess(cfg, tmp_path / "b")]
    try:
        await asyncio.gather(*(p.ready() for p in procs))
        mock.latency = 0.15
        async with aiohttp.ClientSession() as s:
            statuses = await asyncio.gather(
                *(_post(s, p.url, f"{i}") for p in procs for i in range(6))
            )
        assert statuses == [200] * 12
        assert mock.count == 12
        # each process alone allows CAP; together they still never exceeded CAP
        assert mock.max_active == CAP
    finally:
        for p in procs:
            await p.stop()


async def test_a_dead_instance_frees_its_slots_after_the_lease_ttl(
    mock: MockOpenAI, tmp_path, redis_url, redis_prefix
):
    cfg = _cfg(mock, redis_url, redis_prefix)
    a, b = ServeProcess(cfg, tmp_path / "a"), ServeProcess(cfg, tmp_path / "b")
    try:
        await asyncio.gather(a.ready(), b.ready())
        mock.hold = asyncio.Event()
        async with aiohttp.ClientSession() as s:
            stuck = [asyncio.create_task(_post(s, a.url, f"a{i}")) for i in range(CAP)]
            await until(lambda: mock.active == CAP, timeout=10)
            # the cap holds across instances: b cannot start while a holds both slots
            assert await _post(s, b.url, "b-early", {"x-aigw-timeout": "200ms"}) == 503
            a.proc.kill()  # no clean shutdown: its leases are never handed back
            await asyncio.gather(*stuck, return_exceptions=True)
            mock.hold.set()
            t0 = time.monotonic()
            assert await _post(s, b.url, "b-late", {"x-aigw-timeout": "10s"}) == 200
            assert time.monotonic() - t0 < 9  # freed by the 1s TTL, not by the deadline
    finally:
        await a.stop()
        await b.stop()


async def test_redis_outage_falls_back_to_local_slots(
    mock: MockOpenAI, start_gateway, redis_url, redis_prefix
):
    from urllib.parse import urlparse

    from tests.tcpproxy import TcpProxy

    u = urlparse(redis_url)
    proxy = TcpProxy(u.hostname or "127.0.0.1", u.port or 6379)
    await proxy.start()
    try:
        cfg = _cfg(mock, f"redis://127.0.0.1:{proxy.port}{u.path}", redis_prefix)
        g = await start_gateway(cfg)
        leases = g.gateway.dispatcher.leases
        assert leases is not None
        proxy.cut()
        mock.latency = 0.05
        async with aiohttp.ClientSession() as s:
            statuses = await asyncio.gather(*(_post(s, g.url, f"{i}") for i in range(4)))
        assert statuses == [200] * 4  # traffic goes on, capped by the local slots
        assert mock.max_active <= CAP
        assert leases._down
        proxy.restore()
        # within the outage back-off, Redis is not asked again: no lease, local slot only
        async with aiohttp.ClientSession() as s:
            assert await _post(s, g.url, "backoff") == 200
        assert leases._down
        leases._retry_redis_at = 0  # the back-off (1s) is over
        async with aiohttp.ClientSession() as s:
            assert await _post(s, g.url, "back") == 200
        assert not leases._down
    finally:
        await proxy.stop()
