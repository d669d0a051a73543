"""The last stage: send the request to a deployment, fail over on retryable errors.

A stream is returned only after its first event has arrived, so a deployment that fails
before sending anything can still be replaced by the next one; once a chunk has been handed
to the client, nothing is retried.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from aigw.pipeline import JSONResult, RequestContext, Result, StreamResult
from aigw.providers.http import UpstreamClient, upstream_timeout, upstream_unreachable
from aigw.providers.sse import SSEParser
from aigw.routing.router import Router, Target
from aigw.types import GatewayError, Usage


class Dispatcher:
    def __init__(self, router: Router, client: UpstreamClient) -> None:
        self.router = router
        self.client = client

    async def chat(self, ctx: RequestContext) -> Result:
        return await self._failover(ctx, self._chat_once)

    async def embeddings(self, ctx: RequestContext) -> Result:
        return await self._failover(ctx, self._embeddings_once)

    async def _failover(self, ctx: RequestContext, once: Any) -> Result:
        last: GatewayError | None = None
        for group in self.router.plan(ctx.model):
            for target in group:
                ctx.attempts += 1
                ctx.provider, ctx.deployment = target.provider.name, target.name
                ctx.upstream_model = target.upstream_model
                try:
                    return await once(ctx, target)
                except GatewayError as e:
                    if not e.retryable:
                        raise
                    last = e
        assert last is not None
        raise last

    def _upstream_headers(self, ctx: RequestContext) -> dict[str, str]:
        return {"X-Request-ID": ctx.request_id}

    async def _chat_once(self, ctx: RequestContext, t: Target) -> Result:
        req = t.adapter.chat_request(t.provider, ctx.body, t.upstream_model, ctx.stream)
        t0 = time.perf_counter()
        if not ctx.stream:
            status, headers, raw = await self.client.post(
                t.provider, req, self._upstream_headers(ctx)
            )
            ctx.upstream_ms = (time.perf_counter() - t0) * 1000
            if status >= 400:
                raise t.adapter.error(status, raw, _lower(headers))
            body = _json(raw, t)
            out = t.adapter.chat_response(body, t.upstream_model)
            ctx.usage = Usage.from_openai(out.get("usage"))
            passthrough = out is body and t.adapter.passthrough
            return JSONResult(out, raw=raw if passthrough else None)

        resp = await self.client.open(t.provider, req, self._upstream_headers(ctx))
        try:
            if resp.status >= 400:
                raw = await resp.read()
                raise t.adapter.error(resp.status, raw, _lower(dict(resp.headers)))
            translator = t.adapter.chat_stream(t.upstream_model)
            events = _stream_events(resp, t.provider.name)
            # Wait for the first chunk before committing to this deployment.
            first: list[dict[str, Any]] = []
            async for ev, data in events:
                first = translator.feed(ev, data)
                if first:
                    break
            ctx.ttfb_ms = (time.perf_counter() - t0) * 1000
        except BaseException:
            resp.close()
            raise
        return StreamResult(_relay(ctx, resp, events, translator, first, t0))

    async def _embeddings_once(self, ctx: RequestContext, t: Target) -> Result:
        req = t.adapter.embeddings_request(t.provider, ctx.body, t.upstream_model)
        t0 = time.perf_counter()
        status, headers, raw = await self.client.post(t.provider, req, self._upstream_headers(ctx))
        ctx.upstream_ms = (time.perf_counter() - t0) * 1000
        if status >= 400:
            raise t.adapter.error(status, raw, _lower(headers))
        body = _json(raw, t)
        out = t.adapter.embeddings_response(body, t.upstream_model, ctx.body)
        u = out.get("usage") or {}
        ctx.usage = Usage(prompt_tokens=int(u.get("prompt_tokens") or 0))
        passthrough = out is body and t.adapter.passthrough
        return JSONResult(out, raw=raw if passthrough else None)


async def _stream_events(
    resp: aiohttp.ClientResponse, provider: str
) -> AsyncIterator[tuple[str | None, bytes]]:
    parser = SSEParser()
    try:
        async for data in resp.content.iter_any():
            for ev in parser.feed(data):
                yield ev
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise upstream_timeout(provider) from None
    except aiohttp.ClientError as e:
        raise upstream_unreachable(provider, e) from None
    for ev in parser.flush():
        yield ev


async def _relay(
    ctx: RequestContext,
    resp: aiohttp.ClientResponse,
    events: AsyncIterator[tuple[str | None, bytes]],
    translator: Any,
    first: list[dict[str, Any]],
    t0: float,
) -> AsyncIterator[dict[str, Any]]:
    """Yield chunks as they arrive. Closing this generator (the client went away) closes the
    upstream connection, which cancels the upstream request."""
    try:
        for c in first:
            yield c
        async for ev, data in events:
            for c in translator.feed(ev, data):
                yield c
        for c in translator.close():
            yield c
    finally:
        ctx.upstream_ms = (time.perf_counter() - t0) * 1000
        ctx.usage = translator.usage or ctx.usage
        resp.close()


def _json(raw: bytes, t: Target) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise GatewayError(
            502,
            f"{t.provider.name}: upstream sent a response that is not JSON",
            "api_error",
            "bad_upstream_response",
            retryable=True,
        )
    return body


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
