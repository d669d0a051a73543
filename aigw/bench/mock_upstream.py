"""A mock OpenAI-compatible provider: a real aiohttp server speaking OpenAI's JSON and SSE.

Used by the tests (it records every call and fails on command) and by `aigw bench
--mock-upstream` (configurable latency, stream pacing and error rate).

Wire format follows OpenAI's API reference: `chat.completion` objects, `chat.completion.chunk`
events as `data: {...}\\n\\n` ending with `data: [DONE]`, usage in a final chunk with empty
`choices` when `stream_options.include_usage` is set, `list` of `embedding` objects (float
arrays, or base64 of little-endian float32 when `encoding_format` is "base64"), and the
Responses API (`response` objects; `response.*` events with `event:` names and sequence
numbers; a function_call item when function tools are given and the input does not end with
their output; a `web_search_call` item for a `web_search` tool; JSON text for a
`json_schema` format).
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
        app.router.add_post("/v1/responses", self.responses)
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

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        stream = bool(body.get("stream"))
        failed = await self._maybe_fail(stream, body.get("model"))
        if isinstance(failed, web.Response):
            return failed
        if not isinstance(body.get("input"), str | list) or "previous_response_id" in body:
            return web.json_response(
                {
                    "error": {
                        "message": "mock: stateless input expected",
                        "type": "invalid_request_error",
                        "param": "input",
                        "code": None,
                    }
                },
                status=400,
            )
        rid = "resp_" + hashlib.md5(str(self.count).encode()).hexdigest() * 2
        items = response_output(body, self.text, rid)
        inp = body["input"]
        prompt = inp if isinstance(inp, str) else orjson.dumps(inp).decode()
        out_text = "".join(p["text"] for i in items if i["type"] == "message" for p in i["content"])
        usage = {
            "input_tokens": count_tokens(prompt),
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": max(1, len(words(out_text))),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": count_tokens(prompt) + max(1, len(words(out_text))),
        }
        done = response_object(body, rid, "completed", items, usage)
        if not stream:
            return web.json_response(done)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        self.stream_started.set()
        fail = failed if isinstance(failed, Fail) else None
        seq = 0

        async def send(type_: str, **fields: Any) -> None:
            nonlocal seq
            ev = {"type": type_, "sequence_number": seq, **fields}
            seq += 1
            await resp.write(b"event: " + type_.encode() + b"\ndata: " + orjson.dumps(ev) + b"\n\n")

        start = response_object(body, rid, "in_progress", [], None)
        try:
            await send("response.created", response=start)
            await send("response.in_progress", response=start)
            for idx, item in enumerate(items):
                if item["type"] == "message":
                    text = item["content"][0]["text"]
                    await send(
                        "response.output_item.added",
                        output_index=idx,
                        item={**item, "status": "in_progress", "content": []},
                    )
                    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                    await send(
                        "response.content_part.added",
                        item_id=item["id"],
                        output_index=idx,
                        content_index=0,
                        part=part,
                    )
                    for n, piece in enumerate(words(text)):
                        if self.tokens_per_second:
                            await asyncio.sleep(1.0 / self.tokens_per_second)
                        if fail is not None and n == fail.after_chunks:
                            await send(
                                "error",
                                code="server_error",
                                message="mock failure mid-stream",
                                param=None,
                            )
                            return resp
                        await send(
                            "response.output_text.delta",
                            item_id=item["id"],
                            output_index=idx,
                            content_index=0,
                            delta=piece,
                            logprobs=[],
                        )
                    await send(
                        "response.output_text.done",
                        item_id=item["id"],
                        output_index=idx,
                        content_index=0,
                        text=text,
                        logprobs=[],
                    )
                    await send(
                        "response.content_part.done",
                        item_id=item["id"],
                        output_index=idx,
                        content_index=0,
                        part={**part, "text": text},
                    )
                elif item["type"] == "function_call":
                    await send(
                        "response.output_item.added",
                        output_index=idx,
                        item={**item, "status": "in_progress", "arguments": ""},
                    )
                    await send(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=idx,
                        delta=item["arguments"],
                    )
                    await send(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=idx,
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                else:
                    await send(
                        "response.output_item.added",
                        output_index=idx,
                        item={**item, "status": "in_progress"},
                    )
                await send("response.output_item.done", output_index=idx, item=item)
            await send("response.completed", response=done)
            await resp.write_eof()
            self.streams_completed += 1
        except (asyncio.CancelledError, ConnectionResetError):
            self.streams_cancelled += 1
            raise
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


def response_output(body: dict[str, Any], text: str, rid: str) -> list[dict[str, Any]]:
    """What the mock model answers a Responses request with."""
    tools = body.get("tools") or []
    inp = body.get("input")
    last = inp[-1] if isinstance(inp, list) and inp else {}
    items: list[dict[str, Any]] = []
    if any(t.get("type") == "web_search" for t in tools):
        items.append(
            {
                "id": "ws_" + rid[5:29],
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "mock query"},
            }
        )
    functions = [t for t in tools if t.get("type") == "function"]
    if functions and last.get("type") != "function_call_output":
        items.append(
            {
                "id": "fc_" + rid[5:29],
                "type": "function_call",
                "status": "completed",
                "call_id": "call_" + rid[5:21],
                "name": functions[0]["name"],
                "arguments": '{"location":"Paris"}',
            }
        )
        return items
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        props = (fmt.get("schema") or {}).get("properties") or {}
        text = orjson.dumps({k: "mock" for k in props}).decode()
    elif last.get("type") == "function_call_output":
        text = "The tool said: " + str(last.get("output"))
    items.append(
        {
            "id": "msg_" + rid[5:29],
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
    )
    return items


def response_object(
    body: dict[str, Any],
    rid: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": body.get("model", "mock"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }
