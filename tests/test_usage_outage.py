"""PostgreSQL cut away during traffic (through a TCP proxy; the shared server keeps
running): valid keys keep working, every request is recorded exactly once after the
database returns, and a SIGTERM-style shutdown during the outage loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from aigw import config as configmod
from aigw.store import migrations as mig
from aigw.store import open_store
from tests.conftest import mock_config
from tests.helpers_accounts import ADMIN_KEY
from tests.tcpproxy import TcpProxy

MSGS = [{"role": "user", "content": "count me exactly once"}]


async def test_postgres_outage_loses_nothing(
    pg_url: str, mock: Any, start_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGW_ADMIN_KEY", ADMIN_KEY)
    u = urlparse(pg_url)
    proxy = TcpProxy(u.hostname or "127.0.0.1", u.port or 5432)
    await proxy.start()
    via_proxy = pg_url.replace(f"{u.hostname}:{u.port}", f"127.0.0.1:{proxy.port}")
    direct = open_store(configmod.from_dict({"database": pg_url}))
    await direct.connect()
    await mig.up(direct)
    cfg = mock_config(
        mock.url,
        database={"url": via_proxy, "connect_timeout": "1s", "command_timeout": "2s"},
        auth={"required": True},
        billing={"prices": {"gpt-test": {"input": 1, "output": 1}}},
        data_dir=str(tmp_path / "data"),
    )
    try:
        gw = await start_gateway(cfg)
        async with gw.http.post(
            gw.url + "/v1/admin/api-keys",
            json={"org": "acme"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as r:
            key = (await r.json())["key"]
        client = gw.openai(key)
        writer = gw.gateway.accounts.usage
        sent: list[str] = []

        async def send(n: int) -> None:
            for _ in range(n):
                rid = f"req-{len(sent)}"
                await client.chat.completions.create(
                    model="gpt-test", messages=MSGS, extra_headers={"X-Request-ID": rid}
                )
                sent.append(rid)

        await send(5)
        proxy.cut()
        await send(10)  # the key was cached: no 401 while the database is away
        assert not await writer.flush()  # the batch could not be written: spooled
        assert not writer.db_up and writer.backlog_records() >= 10
        await send(5)
        proxy.restore()
        writer._retry_at = 0  # retry now instead of after the back-off
        assert await writer.flush()
        assert writer.backlog_records() == 0

        # Shutting down (SIGTERM) while the database is away: the spool keeps the rest.
        proxy.cut()
        await send(7)
        await gw.http.close()
        await gw.runner.cleanup()  # drain, then the writer's final flush fails: spooled
        spool = Path(cfg["data_dir"]) / "spool"
        assert list(spool.glob("usage-*.jsonl"))
        proxy.restore()
        gw2 = await start_gateway(cfg)  # the same data dir: replays at start
        assert await gw2.gateway.accounts.usage.flush()
        # Only the new process's own (empty) open segment is left.
        assert [p.stat().st_size for p in spool.glob("usage-*.jsonl")] == [0]

        rows = await direct.usage_rows()
        ids = [r["request_id"] for r in rows]
        assert sorted(ids) == sorted(sent) and len(ids) == len(set(ids)) == 27
        assert all(r["status"] == 200 and r["key_id"] for r in rows)
    finally:
        await direct.close()
        await proxy.stop()
