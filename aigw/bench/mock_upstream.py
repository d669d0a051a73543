"""A mock OpenAI-compatible provider: a real aiohttp server speaking OpenAI's JSON and SSE.

Used by the tests (it records every call and fails on command) and by `aigw bench
--mock-upstream` (configurable latency, stream pacing and error rate).

Wire format follows OpenAI's API reference: `chat.completion` objects, `chat.completion.chunk`
events as `data: {...}\\n\\n` ending with `data: [DONE]`, usage in a final chunk with empty
`choices` when `stream_options.include_usage` is set, `list` of `embedding` objects (float
arrays, or base64 of little-endian float32 when `encoding_format` is "base64").
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

DEFAULT_TEXT = "Hello! This is the mock upstream answering your question in a few words."


@dataclass
class Fail:
    """One scripted failure, consumed by the next matching request."""

    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # wait before answering (a slow first byte, or a timeout)
    reset: bool = False  # drop the connection without an answer
    after_chunks: int | None = None  # streams: send this many chunks, then the failure
    model: str | None = None  # only requests for this upstream model consume this failure
    then_ok: bool = False  # after `delay`, answer normally (a slow first byte, no error)


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def count_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def prompt_text(messages: list[dict[str, Any]]) -> str:
    out = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return " ".join(out)


def fake_vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    rng = random.Random(seed)
    return [round(rng.uniform(-1, 1), 6) for _ in range(dims)]


class MockOpenAI:
    def __init__(
        self,
        text: str = DEFAULT_TEXT,
        latency: float = 0.0,
        tokens_per_second: float = 0.0,
        error_rate: float = 0.0,
        dims: int = 8,
        quiet_calls: bool = False,
    ) -> None:
        self.text = text
        self.latency = latency
        self.tokens_per_second = tokens_per_second
        self.error_rate = error_rate
        self.dims = dims
        self.quiet_calls = quiet_calls  # bench: do not keep every call
        self.calls: list[dict[str, Any]] = []
        self.count = 0
        self.failures: deque[Fail] = deque()
        self.streams_cancelled = 0
        self.streams_completed = 0
        self.active = 0
        self.max_active = 0
        self.stream_started = asyncio.Event()
        # When set to an Event, every request waits for it before answering (tests hold
        # calls in flight with it; `active` counts them meanwhile).
        self.hold: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- control -------------------------------------------------------------------------

    def fail(self, *failures: Fail) -> None:
        self.failures.extend(failures)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.url = f"http://{host}:{sock.getsockname()[1]}/v1"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    # --- handlers ------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = orjson.loads(await request.read())
        self.count += 1
        if not self.quiet_calls:
            self.calls.append(
                {"path": request.path, "headers": dict(request.headers), "body": body}
            )
        return body

    def _next_failure(self, model: Any) -> Fail | None:
        for i, f in enumerate(self.failures):
            if f.model is None or f.model == model:
                del self.failures[i]
                return f
        return None

    async def _maybe_fail(self, stream: bool, model: Any = None) -> web.Response | Fail | None:
        f = self._next_failure(model) if self.failures else None
        if f is None and self.error_rate and random.random() < self.error_rate:
            f = Fail(500)
        if f is None:
            return None
        if f.delay:
            await asyncio.sleep(f.delay)
        if f.then_ok:
            return None
        if f.after_chunks is not None and stream:
            return f
        if f.reset:
            return f  # the handler drops the connection
        body = f.body or {
            "error": {
                "message": f"mock failure {f.status}",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return web.Response(
            status=f.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=f.headers,
        )

    async def _busy(self) -> None:
        """The part of a non-streamed answer that takes time; counted in `active`."""
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            self.active -= 1

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        stream = bool(body.get("stream"))
        failed = await self._maybe_fail(stream, body.get("model"))
        if isinstance(failed, web.Response):
            return failed
        if failed is not None and failed.reset:
            request.transport.close()  # type: ignore[union-attr]
            return web.Response()
        if not stream and (self.latency or self.hold is not None):
            await self._busy()
        elif self.latency:
            await asyncio.sleep(self.latency)
        elif self.hold is not None:
            await self.hold.wait()
        model = body.get("model", "mock")
        prompt_tokens = count_tokens(prompt_text(body.get("messages") or []))
        pieces = words(self.text)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if max_tokens and len(pieces) > max_tokens:
            pieces, finish = pieces[:max_tokens], "length"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        cid = "chatcmpl-" + hashlib.md5(str(self.count).encode()).hexdigest()[:24]
        created = int(time.time())
        if not stream:
            return web.Response(
                body=orjson.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "system_fingerprint": "fp_mock",
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": "".join(pieces),
                                    "refusal": None,
                                },
                                "logprobs": None,
                                "finish_reason": finish,
                            }
                        ],
                        "usage": usage,
                    }
                ),
                content_type="application/json",
            )
        return await self._stream(
            request,
            body,
            cid,
            created,
            model,
            pieces,
            finish,
            usage,
            failed if isinstance(failed, Fail) else None,
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        cid: str,
        created: int,
        model: str,
        pieces: list[str],
        finish: str,
        usage: dict[str, Any],
        fail: Fail | None,
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.stream_started.set()

        def chunk(delta: dict[str, Any], fin: str | None) -> bytes:
            c: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": fin}],
            }
            if include_usage:
                c["usage"] = None
            return b"data: " + orjson.dumps(c) + b"\n\n"

        gap = 1.0 / self.tokens_per_second if self.tokens_per_second else 0.0
        try:
            await resp.write(chunk({"role": "assistant", "content": "", "refusal": None}, None))
            for i, p in enumerate(pieces):
                if fail is not None and i == fail.after_chunks:
                    if fail.reset:
                        request.transport.close()  # type: ignore[union-attr]
                        return resp
                    err = fail.body or {
                        "error": {"message": "mock failure mid-stream", "type": "server_error"}
                    }
                    await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
                    return resp
                if gap:
                    await asyncio.sleep(gap)
                await resp.write(chunk({"content": p}, None))
            await resp.write(chunk({}, finish))
            if include_usage:
                await resp.write(
                    b"data: "
                    + orjson.dumps(
                        {
                            "id": cid,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "system_fingerprint": "fp_mock",
                            "choices": [],
                            "usage": usage,
                        }
                    )
                    + b"\n\n"
                )
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            self.streams_completed += 1
        except (asyncio.CancelledError, ConnectionResetError):
            self.streams_cancelled += 1
            raise
        finally:
            self.active -= 1
        return resp

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failed = await self._maybe_fail(False, body.get("model"))
        if isinstance(failed, web.Response):
            return failed
        if failed is not None and failed.reset:
            request.transport.close()  # type: ignore[union-attr]
            return web.Response()
        if self.latency or self.hold is not None:
            await self._busy()
        inp = body.get("input")
        items = [inp] if isinstance(inp, str) else list(inp or [])
        if items and all(isinstance(t, int) for t in items):
            items = [items]  # an array of token ids is one input, as OpenAI reads it
        data = []
        tokens = 0
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += count_tokens(text) if isinstance(item, str) else len(item)
            vec = fake_vector(text, int(body.get("dimensions") or self.dims))
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return web.Response(
            body=orjson.dumps(
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            ),
            content_type="application/json",
        )

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "mock-model", "object": "model", "created": 0, "owned_by": "mock"}],
            }
        )


async def serve_forever(host: str, port: int, **kw: Any) -> None:
    mock = MockOpenAI(quiet_calls=True, **kw)
    await mock.start(host, port)
    await asyncio.Event().wait()
