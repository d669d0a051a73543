"""The limiter on a real three-node Redis Cluster: every decision is one script on one node
(a cross-slot script would be refused), organisations spread over the nodes, limits exact."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from aigw import config as configmod
from aigw.limits.stage import build
from aigw.pipeline import JSONResult, RequestContext
from aigw.types import GatewayError, Principal
from tests.procs import free_port


async def _wait(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await cond():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("redis cluster did not come up")
        await asyncio.sleep(0.05)  # polling servers that are starting, bounded


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well."""
    while True:
        p = free_port()
        if p + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p


@pytest.fixture
async def cluster_url(tmp_path: Path) -> AsyncIterator[str]:
    """Three redis-server processes of our own, joined into a cluster (no replicas)."""
    ports = [_cluster_port() for _ in range(3)]
    procs = []
    for p in ports:
        d = tmp_path / str(p)
        d.mkdir()
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(p),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                cwd=d,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        for p in ports:
            r = redis.Redis(port=p)
            await _wait(r.ping)
            await r.aclose()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for p in ports:
            r = redis.Redis(port=p)

            async def ok(r: redis.Redis = r) -> bool:
                return (await r.cluster("info"))["cluster_state"] == "ok"

            await _wait(ok)
            await r.aclose()
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


async def _admitted(stage: Any, org: str, key: str, n: int) -> int:
    async def ok(ctx: RequestContext) -> JSONResult:
        return JSONResult({})

    async def one() -> bool:
        p = Principal(org_id=org, key_id=key)
        ctx = RequestContext("r", "chat", {"messages": [], "max_tokens": 10}, {}, "m", principal=p)
        try:
            await stage.handle(ctx, ok)
            return True
        except GatewayError as e:
            assert e.status == 429, e.message
            return False

    return sum(await asyncio.gather(*(one() for _ in range(n))))


async def test_limits_on_a_redis_cluster(cluster_url: str, redis_prefix: str) -> None:
    rl = {
        "requests_per_hour": 5,
        "org": {"token_budget": 10_000},
        "redis_url": cluster_url,
        "redis_prefix": redis_prefix,
        "redis_cluster": True,
        # Exactness is the point here, not the outage policy: a loaded CI machine must not
        # turn a slow first cluster round trip into a fail-open decision.
        "redis_timeout": "10s",
    }
    stage = build(configmod.from_dict({"rate_limiting": rl}))
    assert stage is not None
    await stage.limiter.start()
    try:
        # No global limit: the hash tag is the organisation, so orgs spread over the nodes,
        # and each org's key, user and org limits still meet in one slot per decision.
        got = await asyncio.gather(*(_admitted(stage, f"org{i}", f"k{i}", 12) for i in range(12)))
        assert got == [5] * 12, stage.limiter.state()
        assert stage.limiter.state()["redis_up"] is True and stage.limiter.redis_errors == 0
        nodes = stage.limiter.redis.client.get_primaries()
        per_node = []
        for n in nodes:
            r = redis.Redis(host=n.host, port=n.port)
            per_node.append(len([k async for k in r.scan_iter(match="{" + redis_prefix + "*")]))
            await r.aclose()
        assert sum(per_node) == 12 * 2  # a rate key and a budget key per org
        assert sum(1 for c in per_node if c) >= 2  # spread over more than one node
    finally:
        await stage.limiter.close()

    # With a global limit every decision touches the global key: one tag for all, exact.
    glob = build(
        configmod.from_dict({"rate_limiting": {**rl, "global": {"requests_per_hour": 20}}})
    )
    assert glob is not None
    await glob.limiter.start()
    try:
        got = await asyncio.gather(*(_admitted(glob, f"org{i}", f"g{i}", 4) for i in range(10)))
        assert sum(got) == 20
        assert glob.limiter.redis_errors == 0
    finally:
        await glob.limiter.close()
