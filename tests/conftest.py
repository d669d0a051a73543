"""Shared fixtures: real servers on loopback (mock providers, the gateway) and real services.

Redis and PostgreSQL are required (CI starts them); a missing service fails the test, it is
never skipped. Every test gets its own PostgreSQL database and its own Redis key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from aigw import config as configmod
from aigw.bench.mock_upstream import MockOpenAI
from aigw.cli.serve import bind_socket
from aigw.server.accept import AcceptSite
from aigw.server.app import create_app
from aigw.server.connections import GatewayRunner
from aigw.server.gateway import Gateway
from aigw.server.state import GATEWAY

PG_ADMIN_URL = os.environ.get("AIGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("AIGW_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass
class RunningGateway:
    url: str  # http://127.0.0.1:PORT
    app: web.Application
    gateway: Gateway
    runner: web.AppRunner
    http: aiohttp.ClientSession

    clients: list[Any] = field(default_factory=list)  # SDK clients to close at teardown

    def openai(self, api_key: str = "sk-client", **kw: Any) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, **kw)
        self.clients.append(c)
        return c

    async def aclose(self) -> None:
        for c in self.clients:
            await c.close()
        await self.http.close()
        await self.runner.cleanup()


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenAI]:
    m = MockOpenAI()
    await m.start()
    yield m
    await m.stop()


def mock_config(mock_url: str, **extra: Any) -> dict[str, Any]:
    """A config dict with one OpenAI-type provider `mock` and a few models on it."""
    cfg: dict[str, Any] = {
        "providers": {
            "mock": {"type": "openai", "base_url": mock_url, "api_key": "sk-upstream-secret"}
        },
        "models": {
            "gpt-test": {"provider": "mock", "model": "upstream-model"},
            "embed-test": {"provider": "mock", "model": "upstream-embed"},
        },
        "logging": {"level": "warning"},
        "auth": {"required": False},
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


@pytest.fixture
async def start_gateway(tmp_path: Any) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    started: list[RunningGateway] = []

    async def start(cfg: dict[str, Any] | configmod.Config) -> RunningGateway:
        if isinstance(cfg, dict):
            cfg = dict(cfg)
            cfg.setdefault("data_dir", str(tmp_path / f"data{len(started)}"))
            cfg = configmod.from_dict(cfg)
        elif cfg.data_dir == configmod.Config().data_dir:
            # A Config built from the environment (defaults_from_env) keeps the embedded
            # default `.aigw/` of the working directory: never let a test write there.
            cfg.data_dir = str(tmp_path / f"data{len(started)}")
        app = create_app(cfg)
        runner = GatewayRunner(app, cfg.server, handler_cancellation=True, access_log=None)
        await runner.setup()
        sock = bind_socket("127.0.0.1", 0, reuse_port=False)
        await AcceptSite(runner, sock).start()  # as `aigw serve` accepts
        port = sock.getsockname()[1]
        gw = RunningGateway(
            f"http://127.0.0.1:{port}", app, app[GATEWAY], runner, aiohttp.ClientSession()
        )
        started.append(gw)
        return gw

    yield start
    for gw in reversed(started):
        await gw.aclose()


@pytest.fixture
async def gw(mock: MockOpenAI, start_gateway: Any) -> RunningGateway:
    """The gateway in front of the mock upstream, with default settings."""
    return await start_gateway(mock_config(mock.url))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    import asyncpg

    name = "aigw_test_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    import redis.asyncio as redis

    prefix = "aigwtest:" + uuid.uuid4().hex[:10] + ":"
    yield prefix
    r = redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        keys += [k async for k in r.scan_iter(match="{" + prefix + "*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


_SERVICE_FIXTURES = {"pg_url", "redis_url", "redis_prefix"}


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests that reach the real Redis or PostgreSQL (through these fixtures, directly or
    not) are marked `integration`: `make test-integration` runs just them."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            _SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or params.get("dialect") == "postgres"  # tests/helpers_accounts.py's stores
        ):
            item.add_marker(pytest.mark.integration)
