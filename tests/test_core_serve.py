"""`aigw serve` as a real process: start-up, graceful shutdown, several workers on one port."""

from __future__ import annotations

import asyncio
import contextlib
import os
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest

from aigw import config as configmod
from aigw.bench.mock_upstream import DEFAULT_TEXT, MockOpenAI
from aigw.store import migrations, open_store
from tests.conftest import mock_config
from tests.procs import ServeProcess

MSGS = [{"role": "user", "content": "hi"}]


class HeldDatabase:
    """A TCP front for PostgreSQL that holds every connection until `released` is set: a
    gateway connecting through it is provably inside its start-up until then."""

    def __init__(self, url: str) -> None:
        self.target = urlsplit(url)
        self.connected = asyncio.Event()
        self.released = asyncio.Event()
        self.url = ""
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> HeldDatabase:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        t = self.target
        self.url = t._replace(netloc=f"{t.username}@127.0.0.1:{port}").geturl()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        self.released.set()  # the gateway has gone: its connections end, and their pipes
        if self.tasks:
            _, left = await asyncio.wait(self.tasks, timeout=10)
            for task in left:
                task.cancel()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.connected.set()
        await self.released.wait()
        up_r, up_w = await asyncio.open_connection(self.target.hostname, self.target.port)
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    w.close()


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_during_start_up_is_a_clean_stop(
    mock: MockOpenAI, pg_url: str, tmp_path, workers: str
) -> None:
    """Stopped while it is still starting (a deploy rolled back, a unit stopped as it
    started): the gateway finishes starting, then stops as from any SIGTERM, exit code 0."""
    store = open_store(configmod.from_dict({"database": pg_url, "data_dir": str(tmp_path)}))
    await store.connect()
    try:
        await migrations.up(store)
    finally:
        await store.close()
    async with HeldDatabase(pg_url) as db:
        cfg = mock_config(mock.url, database=db.url, logging={"level": "info"})
        srv = ServeProcess(cfg, tmp_path, "--workers", workers)
        try:
            async with asyncio.timeout(30):
                await db.connected.wait()  # a worker is connecting to its database
            srv.terminate()  # to the parent, with --workers: it may not have its handler yet
            db.released.set()
            assert await srv.wait() == 0, srv.log()
            log = srv.log()
            assert log.count('"msg":"shutting down: draining in-flight requests"') == int(workers)
            assert log.count('"msg":"stopped"') == int(workers)
        finally:
            await srv.stop()


async def test_sigterm_lets_an_inflight_stream_finish_then_exits_0(
    mock: MockOpenAI, tmp_path
) -> None:
    mock.tokens_per_second = 20  # ~0.65 s of streaming
    srv = ServeProcess(mock_config(mock.url, logging={"level": "info"}), tmp_path)
    try:
        await srv.ready()
        async with aiohttp.ClientSession() as s:
            body = {"model": "gpt-test", "messages": MSGS, "stream": True}
            async with s.post(srv.url + "/v1/chat/completions", json=body) as r:
                first = await r.content.readuntil(b"\n\n")
                srv.terminate()  # mid-stream
                rest = await r.read()
        events = [e for e in (first + rest).split(b"\n\n") if e]
        assert events[-1] == b"data: [DONE]"
        text = "".join(
            (c["choices"][0]["delta"].get("content") or "")
            for c in (orjson.loads(e[6:]) for e in events[:-1])
            if c["choices"]
        )
        assert text == DEFAULT_TEXT
        assert await srv.wait() == 0
        assert mock.streams_completed == 1
        log = srv.log()
        assert '"msg":"shutting down: draining in-flight requests"' in log
        # The access line of the drained stream was written, as JSON.
        access = [
            orjson.loads(line)
            for line in log.splitlines()
            if line.startswith("{") and '"logger":"aigw.access"' in line
        ]
        assert access and access[-1]["status"] == 200 and access[-1]["stream"] is True
        assert "sk-upstream-secret" not in log
    finally:
        await srv.stop()


async def test_two_workers_share_the_port(mock: MockOpenAI, tmp_path) -> None:
    srv = ServeProcess(mock_config(mock.url, logging={"level": "info"}), tmp_path, "--workers", "2")
    try:
        await srv.ready()
        pids = set()
        body = {"model": "gpt-test", "messages": MSGS}
        for _ in range(40):
            # A fresh connection each time lets the kernel pick a worker.
            async with (
                aiohttp.ClientSession() as s,
                s.post(srv.url + "/v1/chat/completions", json=body) as r,
            ):
                assert r.status == 200
        # Both workers came up (each logs its pid once it listens; the second may lag).
        async with asyncio.timeout(20):
            while True:
                pids = {
                    orjson.loads(line)["pid"]
                    for line in srv.log().splitlines()
                    if line.startswith("{") and '"msg":"aigw listening"' in line
                }
                if len(pids) >= 2:
                    break
                await asyncio.sleep(0.05)  # polling a log file, bounded by the timeout
        assert len(pids) == 2 and os.getpid() not in pids
        assert mock.count == 40
    finally:
        assert await srv.stop() == 0
