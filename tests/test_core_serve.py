"""`aigw serve` as a real process: start-up, graceful shutdown, several workers on one port."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import orjson

from aigw.bench.mock_upstream import DEFAULT_TEXT, MockOpenAI
from tests.conftest import mock_config
from tests.procs import ServeProcess

MSGS = [{"role": "user", "content": "hi"}]


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
