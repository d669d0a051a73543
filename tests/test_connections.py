"""Client connections against a real `aigw serve` (issue 13, items 2 and 5): the header
deadline, the idle keep-alive timeout, the connection cap per worker, and the parser's errors
in the OpenAI shape without echoing what the client sent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import mock_config
from tests.procs import ServeProcess

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 4.0
SLACK = 6.0  # a loaded machine: generous, but far below aiohttp's default of an hour


@pytest.fixture
async def srv(mock: Any, tmp_path: Path) -> Any:
    cfg = mock_config(
        mock.url,
        server={
            "header_timeout": f"{HEADER_TIMEOUT}s",
            "idle_timeout": f"{IDLE_TIMEOUT}s",
            "max_connections": 6,
        },
    )
    s = ServeProcess(cfg, tmp_path)
    await s.ready()
    yield s
    await s.stop()


async def connect(srv: ServeProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", srv.port)


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closes the connection (reads and drops what it sends)."""
    t0 = time.monotonic()
    async with asyncio.timeout(limit):
        while await reader.read(65536):
            pass
    return time.monotonic() - t0


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return status, await reader.readexactly(length)


async def test_silent_half_sent_and_idle_connections_are_closed(srv: ServeProcess) -> None:
    silent = await connect(srv)
    half = await connect(srv)
    half[1].write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
    idle = await connect(srv)
    idle[1].write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_answer(idle[0]))[0] == 200
    idle_since = time.monotonic()
    slow_next = await connect(srv)  # answered once, then half of a second request
    slow_next[1].write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_answer(slow_next[0]))[0] == 200
    slow_next[1].write(b"GET /health HTTP/1.1\r\nHo")

    waits = await asyncio.gather(
        closed_after(silent[0], HEADER_TIMEOUT + SLACK),
        closed_after(half[0], HEADER_TIMEOUT + SLACK),
        closed_after(slow_next[0], HEADER_TIMEOUT + SLACK),
        closed_after(idle[0], IDLE_TIMEOUT + SLACK),
    )
    # the half-sent second request got the header deadline, not the idle timeout
    assert waits[2] < IDLE_TIMEOUT
    # the idle connection was kept for the idle timeout, not the (shorter) header deadline
    assert time.monotonic() - idle_since >= IDLE_TIMEOUT - 0.1
    for _, w in (silent, half, idle, slow_next):
        w.close()


async def test_connections_past_the_cap_get_503_and_the_gateway_recovers(
    srv: ServeProcess,
) -> None:
    held = []
    refused = None
    for _ in range(8):
        r, w = await connect(srv)
        held.append(w)
        w.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = await read_answer(r)
        if status == 503:
            refused = orjson.loads(body)
            break
        assert status == 200
    assert refused is not None, "no connection was refused past max_connections"
    assert refused["error"]["code"] == "too_many_connections"
    assert 5 <= len(held) <= 7  # the cap is 6 (the readiness probe may still be counted)
    for w in held:
        w.close()
        await w.wait_closed()
    # the slots are free again
    async with asyncio.timeout(SLACK):
        while True:
            r, w = await connect(srv)
            w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _ = await read_answer(r)
            w.close()
            if status == 200:
                break


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-LEAKME" + b"a" * 20000,
        b"GET /v1/models?q=sk-LEAKME" + b"b" * 10000 + b" HTTP/1.1\r\nHost: x",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-sk-LEAKME" + b"c" * 20000 + b": 1",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header sk-LEAKME: 1",
    ],
    ids=["long-authorization", "long-url", "long-header-name", "invalid-header"],
)
async def test_parser_errors_are_openai_shaped_and_echo_nothing(
    srv: ServeProcess, request_bytes: bytes
) -> None:
    r, w = await connect(srv)
    w.write(request_bytes + b"\r\n\r\n")
    status, body = await read_answer(r)
    w.close()
    assert status in (400, 414, 431)
    err = orjson.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert b"LEAKME" not in body
    assert "LEAKME" not in srv.log()
