"""Compressed request bodies (issue 13, item 1), against a real `aigw serve` process.

gzip and deflate bodies are accepted and inflated off the event loop, bounded by
`server.max_body_bytes` of inflated data; a body that does not match its Content-Encoding is a
400; other encodings are a 415.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.conftest import mock_config
from tests.procs import ServeProcess


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gzip_bomb(members: int = 1024) -> bytes:
    """~1 MB that inflates to `members` MiB of zeros (concatenated gzip members are valid)."""
    return gzip.compress(bytes(1 << 20), compresslevel=9) * members


async def serve(mock: Any, tmp_path: Path, **server: Any) -> ServeProcess:
    cfg = mock_config(mock.url, server={"max_body_bytes": "2MB", **server})
    srv = ServeProcess(cfg, tmp_path)
    await srv.ready()
    return srv


async def test_gzip_bomb_is_refused_without_stalling_the_loop(mock: Any, tmp_path: Path) -> None:
    srv = await serve(mock, tmp_path)
    try:
        bomb = gzip_bomb()
        assert len(bomb) < 2_000_000  # within max_body_bytes while compressed
        latencies: list[float] = []
        done = asyncio.Event()

        async def poll_health(s: aiohttp.ClientSession) -> None:
            while not done.is_set():
                t0 = time.monotonic()
                async with s.get(srv.url + "/health") as r:
                    assert r.status == 200
                latencies.append(time.monotonic() - t0)

        async with aiohttp.ClientSession() as s, aiohttp.ClientSession() as probe:
            cpu0 = cpu_seconds(srv.proc.pid)
            poller = asyncio.create_task(poll_health(probe))
            async with s.post(
                srv.url + "/v1/chat/completions",
                data=bomb,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            ) as r:
                status, body = r.status, await r.json()
            # a few more polls after the answer: any inflating left behind shows here too
            n = len(latencies)
            while len(latencies) < n + 5:
                await asyncio.sleep(0)  # yield to the poller; bounded by its 5 round trips
                if poller.done():
                    break
            done.set()
            await poller
            cpu = cpu_seconds(srv.proc.pid) - cpu0
        assert status == 413, body
        assert body["error"]["code"] == "request_too_large"
        assert "decompressed" in body["error"]["message"]
        # Inflating the whole GiB costs seconds of CPU; stopping at 2 MB costs milliseconds.
        assert cpu < 0.6, f"the gateway burnt {cpu:.2f}s of CPU on a 1 MB body"
        assert max(latencies) < 0.75, f"/health stalled {max(latencies):.2f}s"
        assert mock.count == 0
    finally:
        await srv.stop()


async def test_compressed_bodies_decode_or_get_a_clear_error(mock: Any, tmp_path: Path) -> None:
    srv = await serve(mock, tmp_path)
    body = orjson.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
    deflated = zlib.compress(body)
    cases = [
        ("gzip", gzip.compress(body), 200, None),
        ("deflate", deflated, 200, None),
        ("gzip", body, 400, "invalid_content_encoding"),  # the header lies
        ("gzip", gzip.compress(body)[:-12], 400, "invalid_content_encoding"),  # truncated
        ("deflate", b"\x78\x9c garbage", 400, "invalid_content_encoding"),
        ("br", body, 415, "unsupported_content_encoding"),
    ]
    try:
        async with aiohttp.ClientSession() as s:
            for encoding, data, status, code in cases:
                async with s.post(
                    srv.url + "/v1/chat/completions",
                    data=data,
                    headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
                ) as r:
                    got = await r.json()
                    assert r.status == status, (encoding, got)
                    if code:
                        assert got["error"]["code"] == code
                    else:
                        assert got["choices"][0]["message"]["content"]
        assert mock.count == 2  # only the two well-formed bodies reached the upstream
    finally:
        await srv.stop()
