"""Helpers for the batch tests: input files, a config with a fast-polling worker, and
waiting for a batch to end (polling with a deadline, as a client does)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

FINAL = ("completed", "failed", "expired", "cancelled")


def chat_line(cid: str, model: str = "gpt-test", text: str = "hello", **body: Any) -> dict:
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def chat_file(n: int, model: str = "gpt-test") -> bytes:
    return jsonl([chat_line(f"req-{i}", model, f"question {i}") for i in range(n)])


def batch_settings(**kw: Any) -> dict[str, Any]:
    return {"poll_interval": 0.05, **kw}


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in data.splitlines() if x.strip()]


async def wait_final(get: Any, batch_id: str, timeout: float = 60.0) -> Any:
    """Poll `get(batch_id)` (SDK retrieve or an HTTP call returning a dict) until the batch
    is in a final state; return the last object."""
    deadline = time.monotonic() + timeout
    while True:
        b = await get(batch_id)
        status = b["status"] if isinstance(b, dict) else b.status
        if status in FINAL:
            return b
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {status}")
        await asyncio.sleep(0.05)  # a client polling, bounded by the deadline


async def gauges(gw: Any) -> dict[str, float]:
    """The batch worker's gauges as /metrics shows them."""
    async with gw.http.get(gw.url + "/metrics") as r:
        text = await r.text()
    return {
        ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("batch_")
    }
