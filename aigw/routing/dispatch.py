"""The last stage: queue for a slot, call a deployment, retry, trip breakers, fail over.

For each request the router gives the groups to try (the model's deployments in balancer
order, then each fallback model's); deployments behind an open breaker are left out. Each
deployment is tried up to `routing.retries.max_attempts` times (backoff with full jitter,
Retry-After honoured, see retry.py) while the request's retry budget (`max_total`) lasts;
then the next deployment takes over, and each switch is logged as a `failover` event.

A stream is returned only after its first event has arrived, so a deployment that fails
before sending anything can still be replaced by the next one; once a chunk has been handed
to the client, nothing is retried. Its concurrency slot is held until the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, cast

import orjson

from aigw.component import Component, Gauge
from aigw.limits.estimate import estimate_prompt_tokens
from aigw.pipeline import JSONResult, NativeEvents, RequestContext, Result, StreamResult
from aigw.providers.base import (
    COUNT_TOKENS,
    EMBEDDINGS,
    MESSAGES,
    NativeAdapter,
    StreamDecoder,
    StreamTranslator,
    UpstreamRequest,
)
from aigw.providers.common.errors import no_embeddings
from aigw.providers.http import UpstreamClient, transport_error
from aigw.providers.http1 import Response, TransportError
from aigw.queue import admission
from aigw.queue.batcher import EmbeddingBatcher
from aigw.queue.coalesce import Coalescer, coalescible
from aigw.queue.leases import ClusterLeases
from aigw.queue.slots import SlotPool
from aigw.responses import native as native_responses
from aigw.routing.balancer import Balancer, DeploymentState, DeploymentStates
from aigw.routing.breaker import CLOSED, Breaker, SharedBreakers
from aigw.routing.gauges import deployment_gauges
from aigw.routing.redact import UpstreamErrors
from aigw.routing.retry import RetryPolicy
from aigw.routing.router import Router, Target
from aigw.routing.settings import RoutingSettings
from aigw.types import GatewayError, Usage

log = logging.getLogger("aigw.routing")


class _Release:
    """Gives back what one attempt holds (in-flight count, slot, cluster lease), once."""

    __slots__ = ("done", "lease", "leases", "pool", "st")

    def __init__(
        self,
        st: DeploymentState,
        pool: SlotPool | None,
        lease: str | None,
        leases: ClusterLeases | None,
    ) -> None:
        self.st = st
        self.pool = pool  # the slot pool this attempt took a slot from, if it took one
        self.lease = lease
        self.leases = leases
        self.done = False

    def __call__(self, _ctx: Any = None) -> None:
        if self.done:
            return
        self.done = True
        self.st.in_flight -= 1
        if self.pool is not None:
            self.pool.release()
        if self.lease is not None and self.leases is not None:
            self.leases.release(self.lease)


Once = Callable[[RequestContext, Target, _Release], Awaitable[Result]]


class Dispatcher(Component):
    def __init__(
        self,
        router: Router,
        client: UpstreamClient,
        settings: RoutingSettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.router = router
        self.client = client
        self.settings = settings = settings or RoutingSettings()
        self.clock = clock
        b = settings.breaker
        # A disabled breaker is one that never trips (the code path stays the same).
        self._breaker_settings = (
            b
            if b.enabled
            else b.model_copy(
                update={"failure_threshold": 1 << 30, "error_rate": 1.0, "min_requests": 1 << 30}
            )
        )
        # upstream error text loses anything shaped like a credential (routing/redact.py)
        self.upstream_errors = UpstreamErrors(p.api_key for p in router.config.providers.values())
        self.states = DeploymentStates(
            self._new_state, router.config.routing.max_direct_models, self._dropped
        )
        self.states.configured = {
            d.name for m in router.config.models.values() for d in m.deployments
        }
        self.balancer = Balancer(self.states, rng)
        router.balancer = self.balancer
        self.retry = RetryPolicy(settings.retries, sleep=sleep, clock=self._now, rng=rng)
        q = settings.queue
        batch = q.batch_embeddings
        self.batcher = EmbeddingBatcher(batch.window, batch.max_inputs) if batch.enabled else None
        self.coalescer = Coalescer() if q.coalesce else None
        self.redis: Any = None
        self.leases: ClusterLeases | None = None
        self.shared_breakers: SharedBreakers | None = None
        for name in router.model_names():
            for t in router.targets(name):
                self.states.of(t)

    def _now(self) -> float:
        return self.clock()

    def _dropped(self, name: str) -> None:
        if self.shared_breakers is not None:
            self.shared_breakers.unwatch(name)

    def _new_state(self, t: Target) -> DeploymentState:
        limit = t.deployment.max_concurrency
        st = DeploymentState(t.name, Breaker(self._breaker_settings, self._now), limit)
        if limit is not None:
            st.slots = SlotPool(t.name, limit)
        if self.shared_breakers is not None:
            self.shared_breakers.watch(st)
        return st

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        if not s.redis_url:
            return
        import redis.asyncio as redis

        self.redis = redis.from_url(s.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        if any(st.limit is not None for st in self.states.values()):
            self.leases = ClusterLeases(
                self.redis, s.redis_prefix, s.queue.lease_ttl, s.queue.lease_poll
            )
            await self.leases.start()
        if s.breaker.enabled:
            self.shared_breakers = SharedBreakers(self.redis, s.redis_prefix, self._now)
            for st in self.states.values():
                self.shared_breakers.watch(st)
            await self.shared_breakers.start()

    async def stop(self) -> None:
        if self.shared_breakers is not None:
            await self.shared_breakers.stop()
        if self.leases is not None:
            await self.leases.stop()
        if self.redis is not None:
            await self.redis.aclose()

    # --- entry points ------------------------------------------------------------------------

    async def chat(self, ctx: RequestContext) -> Result:
        if self.coalescer is not None and coalescible(ctx):
            return await self.coalescer.run(ctx, self._chat)
        return await self._failover(ctx, self._chat_once)

    async def _chat(self, ctx: RequestContext) -> Result:
        return await self._failover(ctx, self._chat_once)

    async def responses(self, ctx: RequestContext) -> Result:
        """POST /v1/responses (`ctx.turn`): an OpenAI deployment that speaks the Responses
        API is sent the request itself; every other one its chat translation (`ctx.body`)."""
        return await self._failover(ctx, self._responses_once)

    async def embeddings(self, ctx: RequestContext) -> Result:
        if self.batcher is not None:
            return await self._failover(ctx, self._embeddings_batched, slots=False)
        return await self._failover(ctx, self._embeddings_once)

    def gauges(self) -> list[Gauge]:
        return deployment_gauges(self.snapshot)

    async def count_tokens(self, ctx: RequestContext) -> Result:
        """A Messages request's input tokens (`ctx.native`): the provider's own count where
        it has one (COUNT_TOKENS), with retries and failover like any call; else the
        gateway's estimate, said so in `x-aigw-token-count`."""
        return await self._failover(ctx, self._count_tokens_once, slots=False)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per deployment, right now: in_flight, queued, limit, breaker_state, ewma_ms, ...
        Read-only and cheap: metrics scrape it at collection time, the admin route shows it."""
        out: dict[str, dict[str, Any]] = {}
        for name, st in self.states.items():
            b = st.breaker
            out[name] = {
                "in_flight": st.in_flight,
                "queued": st.queued,
                "limit": st.limit,
                "breaker_state": b.state,
                "breaker_retry_in_s": round(b.retry_in(), 3),
                "breaker_trips": b.trips_total,
                "ewma_ms": None if st.ewma_ms is None else round(st.ewma_ms, 3),
                "calls": st.calls,
                "failures": st.failures,
                "queue_rejected": st.slots.rejected if st.slots is not None else 0,
                "queue_wait_s_total": round(st.slots.waited_total, 6) if st.slots else 0.0,
            }
        return out

    # --- failover, retries, slots ------------------------------------------------------------

    async def _failover(self, ctx: RequestContext, once: Once, slots: bool = True) -> Result:
        groups = self.router.plan(ctx.model)
        deadline = self.clock() + self.settings.retries.max_total
        last: GatewayError | None = None
        prev: Target | None = None
        for group in groups:
            for t in group:
                st = self.states.of(t)
                if not st.breaker.allow():  # opened meanwhile, or its one probe is out
                    continue
                if prev is not None:
                    self._log_failover(ctx, prev, t, last)
                try:
                    # The first try is a plain call: the common case pays for no retry setup.
                    return await self._attempt(ctx, t, st, once, slots)
                except GatewayError as e:
                    if not e.retryable:
                        _tell_attempts(e, ctx)
                        raise
                    last = e
                if self.settings.retries.max_attempts > 1 and st.breaker.state == CLOSED:
                    try:
                        return await self.retry.resume(
                            last,
                            partial(self._attempt, ctx, t, st, once, slots),
                            deadline,
                            partial(_not_closed, st.breaker),
                        )
                    except GatewayError as e:
                        if not e.retryable:
                            _tell_attempts(e, ctx)
                            raise
                        last = e
                prev = t
                if self.clock() >= deadline:
                    raise _tell_attempts(last, ctx)
        if last is None:
            raise self._all_unavailable(ctx, groups)
        raise _tell_attempts(last, ctx)

    async def _attempt(
        self, ctx: RequestContext, t: Target, st: DeploymentState, once: Once, slots: bool
    ) -> Result:
        ctx.attempts += 1
        ctx.provider = t.provider.name
        ctx.deployment = t.name
        ctx.upstream_model = t.upstream_model
        breaker = st.breaker
        lease = None
        pool = st.slots if slots else None  # batched embeddings: the combined call takes one
        if pool is not None:
            try:
                lease = await self._take_slot(ctx, st)
            except BaseException:
                breaker.release_probe()
                raise
        st.in_flight += 1
        st.calls += 1
        release = _Release(st, pool, lease, self.leases)
        try:
            result = await once(ctx, t, release)
        except GatewayError as e:
            release()
            if e.retryable:
                st.failures += 1
                breaker.failure()
            else:
                breaker.success()  # the deployment answered; the request was at fault
                if 400 <= e.status < 500 and t.name not in self.states.configured:
                    # a `<provider>/<model>` name the upstream refused: keep nothing of it
                    self.router.forget(t.model_name)
                    self.states.forget(t.name)
            raise
        except BaseException:
            release()
            breaker.release_probe()
            raise
        breaker.success()
        if type(result) is StreamResult:
            if ctx.ttfb_ms is not None:
                st.observe(ctx.ttfb_ms)
            ctx.on_finish(release)  # backstop: the relay releases when the stream ends
        else:
            release()
            if ctx.upstream_ms is not None:
                st.observe(ctx.upstream_ms)
        return result

    async def _take_slot(self, ctx: RequestContext, st: DeploymentState) -> str | None:
        """Wait for a slot of this deployment (and a cluster lease with Redis); returns the
        lease id. Turned away with 503/429 + Retry-After when the deadline comes first."""
        pool = st.slots
        assert pool is not None and st.limit is not None
        q = self.settings.queue
        deadline = admission.deadline(ctx, q.max_wait)
        retry_after = self._retry_after(st)
        waited = await pool.acquire(admission.priority(ctx), deadline, q.reject_status, retry_after)
        lease = None
        if self.leases is not None:
            try:
                t0 = time.monotonic()
                lease = await self.leases.acquire(st.name, st.limit, deadline)
                waited += time.monotonic() - t0
            except TimeoutError:
                pool.release()
                pool.rejected += 1
                raise pool._rejection(q.reject_status, retry_after) from None
            except BaseException:
                pool.release()
                raise
        if waited:
            ctx.extra_log["queue_ms"] = round(waited * 1000, 3)
        return lease

    def _retry_after(self, st: DeploymentState) -> float:
        """A guess at when a slot frees: the queue ahead, served `limit` at a time."""
        per_call = (st.ewma_ms or 1000.0) / 1000.0
        return max(1.0, (st.queued + 1) / (st.limit or 1) * per_call)

    def _all_unavailable(self, ctx: RequestContext, groups: list[list[Target]]) -> GatewayError:
        waits = [
            st.breaker.retry_in()
            for st in self.states.values()
            if st.breaker.state != CLOSED and st.breaker.retry_in() > 0
        ]
        return GatewayError(
            503,
            f"Every deployment of `{ctx.model}` is unavailable (circuit breakers open). "
            "Retry later.",
            "api_error",
            "deployments_unavailable",
            retry_after=min(waits) if waits else 1.0,
        )

    def _log_failover(
        self, ctx: RequestContext, frm: Target, to: Target, reason: GatewayError | None
    ) -> None:
        log.warning(
            "failover",
            extra={
                "event": "failover",
                "model": ctx.model,
                "from": frm.name,
                "to": to.name,
                "reason": (reason.code or reason.type) if reason else None,
                "status": reason.status if reason else None,
                "attempts": ctx.attempts,
            },
        )

    def upstream_error(
        self, t: Target, status: int, raw: bytes, headers: dict[str, str]
    ) -> GatewayError:
        """The adapter's mapping of an upstream error answer, scrubbed of credentials."""
        return self.upstream_errors.scrub(
            t.adapter.error(status, raw, headers), status, t.provider.name
        )

    async def _post(self, ctx: RequestContext, t: Target, req: UpstreamRequest) -> bytes:
        """A whole answer's bytes, timed; an error status raises the provider's error."""
        t0 = time.perf_counter()
        status, headers, raw = await self.client.post(t.provider, req, self._upstream_headers(ctx))
        ctx.upstream_ms = (time.perf_counter() - t0) * 1000
        if status >= 400:
            raise self.upstream_error(t, status, raw, headers)
        return raw

    def _upstream_headers(self, ctx: RequestContext) -> dict[str, str]:
        return {"X-Request-ID": ctx.request_id}

    async def _chat_once(self, ctx: RequestContext, t: Target, release: _Release) -> Result:
        # A /v1/messages client's own request goes as it came to a provider that speaks it.
        native = ctx.native is not None and t.can(MESSAGES)
        if native:
            adapter = cast(NativeAdapter, t.adapter)  # the MESSAGES capability says so
            assert ctx.native is not None
            req = adapter.messages_request(
                t.provider, ctx.native, ctx.body, t.upstream_model, ctx.stream
            )
        else:
            req = t.adapter.chat_request(t.provider, ctx.body, t.upstream_model, ctx.stream)
        if not ctx.stream:
            raw = await self._post(ctx, t, req)
            body = _json(raw, t)
            answer = t.adapter.chat_response(body, t.upstream_model)
            ctx.usage = answer.usage
            passthrough = answer.body is body and t.adapter.passthrough
            return JSONResult(
                answer.body,
                raw=raw if passthrough else None,
                native=answer.native if native else None,
            )

        translator = t.adapter.chat_stream(t.upstream_model)
        frames = NativeEvents() if native else None
        return await self._open_stream(ctx, t, req, translator, frames, release)

    async def _count_tokens_once(self, ctx: RequestContext, t: Target, release: _Release) -> Result:
        if ctx.native is None or not t.can(COUNT_TOKENS):
            ctx.response_headers["x-aigw-token-count"] = "estimate"
            return JSONResult({"input_tokens": estimate_prompt_tokens("chat", ctx.body)})
        adapter = cast(NativeAdapter, t.adapter)  # the COUNT_TOKENS capability says so
        req = adapter.count_tokens_request(t.provider, ctx.native, t.upstream_model)
        raw = await self._post(ctx, t, req)
        count = adapter.count_tokens_response(_json(raw, t))
        ctx.response_headers["x-aigw-token-count"] = "upstream"
        return JSONResult({"input_tokens": count})

    async def _embeddings_once(self, ctx: RequestContext, t: Target, release: _Release) -> Result:
        if not t.can(EMBEDDINGS):
            raise no_embeddings(t.provider.type, ctx.model)
        req = t.adapter.embeddings_request(t.provider, ctx.body, t.upstream_model)
        raw = await self._post(ctx, t, req)
        body = _json(raw, t)
        answer = t.adapter.embeddings_response(body, t.upstream_model, ctx.body)
        ctx.usage = answer.usage
        passthrough = answer.body is body and t.adapter.passthrough
        return JSONResult(answer.body, raw=raw if passthrough else None)

    async def _embeddings_batched(
        self, ctx: RequestContext, t: Target, release: _Release
    ) -> Result:
        """Join the deployment's open batch; the combined call takes one slot of its own."""
        assert self.batcher is not None
        t0 = time.perf_counter()
        out = await self.batcher.submit(ctx, t.name, partial(self._embeddings_call, t))
        ctx.upstream_ms = (time.perf_counter() - t0) * 1000
        ctx.usage = Usage(prompt_tokens=int(out["usage"]["prompt_tokens"]))
        return JSONResult(out)

    async def _embeddings_call(
        self, t: Target, ctx: RequestContext, body: dict[str, Any]
    ) -> dict[str, Any]:
        st = self.states.of(t)
        lease = await self._take_slot(ctx, st) if st.slots is not None else None
        try:  # from here on the slot is ours to give back
            if not t.can(EMBEDDINGS):
                raise no_embeddings(t.provider.type, ctx.model)
            req = t.adapter.embeddings_request(t.provider, body, t.upstream_model)
            status, headers, raw = await self.client.post(
                t.provider, req, self._upstream_headers(ctx)
            )
            if status >= 400:
                raise self.upstream_error(t, status, raw, headers)
            return t.adapter.embeddings_response(_json(raw, t), t.upstream_model, body).body
        finally:
            if st.slots is not None:
                st.slots.release()
            if lease is not None and self.leases is not None:
                self.leases.release(lease)

    async def _responses_once(self, ctx: RequestContext, t: Target, release: _Release) -> Result:
        turn = ctx.turn
        if not native_responses.speaks_responses(t.provider):
            if turn.needs_openai:
                raise GatewayError(
                    400,
                    f"`{ctx.model}` is served by {t.provider.type}, which has no OpenAI "
                    "built-in tools: only function tools can be used with it.",
                    "invalid_request_error",
                    "unsupported_tool",
                    "tools",
                )
            return await self._chat_once(ctx, t, release)
        req = native_responses.request(t.provider, turn, t.upstream_model, ctx.stream)
        if not ctx.stream:
            answer = _json(await self._post(ctx, t, req), t)
            ctx.usage = native_responses.usage_of(answer.get("usage"))
            return JSONResult(native_responses.to_chat(answer), native=answer)
        frames = NativeEvents()  # the upstream's own events, for the client
        translator = native_responses.NativeStream()
        return await self._open_stream(ctx, t, req, translator, frames, release)

    async def _open_stream(
        self,
        ctx: RequestContext,
        t: Target,
        req: UpstreamRequest,
        translator: StreamTranslator,
        frames: NativeEvents | None,
        release: _Release,
    ) -> StreamResult:
        """Open an upstream stream and wait for its first chunk before committing to this
        deployment (until then an error may still fail over); the upstream's own events go
        to `frames` when a client wants them."""
        t0 = time.perf_counter()
        resp = await self.client.open(t.provider, req, self._upstream_headers(ctx))
        try:
            if resp.status >= 400:
                raw = await resp.read()
                raise self.upstream_error(t, resp.status, raw, resp.headers)
            events = _stream_events(resp, t.spec.stream_decoder(), t.provider.name)
            first: list[dict[str, Any]] = []
            async for ev, data in events:
                if frames is not None:
                    frames.add(ev, data)
                first = translator.feed(ev, data)
                if first:
                    break
            ctx.ttfb_ms = (time.perf_counter() - t0) * 1000
        except GatewayError as e:  # an error event of the provider's: its text, scrubbed
            resp.close()
            raise self.upstream_errors.clean(e) from None
        except BaseException:
            resp.close()
            raise
        return StreamResult(
            _relay(ctx, resp, events, translator, first, t0, release, frames, self.upstream_errors),
            frames,
        )


def _tell_attempts(e: GatewayError, ctx: RequestContext) -> GatewayError:
    """Errors tell the client how hard the gateway tried, too."""
    if ctx.attempts:
        e.headers["x-aigw-attempts"] = str(ctx.attempts)
    return e


def _not_closed(breaker: Breaker) -> bool:
    """Retries of one deployment stop once its breaker has opened."""
    return breaker.state != CLOSED


async def _stream_events(
    resp: Response, parser: StreamDecoder, provider: str
) -> AsyncIterator[tuple[str | None, bytes]]:
    try:
        async for data in resp.iter_any():
            for ev in parser.feed(data):
                yield ev
    except TransportError as e:
        raise transport_error(provider, e) from None
    for ev in parser.flush():
        yield ev


async def _relay(
    ctx: RequestContext,
    resp: Response,
    events: AsyncIterator[tuple[str | None, bytes]],
    translator: StreamTranslator,
    first: list[dict[str, Any]],
    t0: float,
    release: _Release,
    frames: NativeEvents | None,
    errors: UpstreamErrors,
) -> AsyncIterator[dict[str, Any]]:
    """Yield chunks as they arrive (keeping the upstream's own events in `frames` for a
    client that speaks its format). Closing this generator (the client went away) closes
    the upstream connection, which cancels the upstream request."""
    try:
        for c in first:
            yield c
        async for ev, data in events:
            if frames is not None:
                frames.add(ev, data)
            for c in translator.feed(ev, data):
                yield c
        for c in translator.close():
            yield c
    except GatewayError as e:  # a provider's error event mid-stream: its text, scrubbed
        raise errors.clean(e) from None
    finally:
        ctx.upstream_ms = (time.perf_counter() - t0) * 1000
        ctx.usage = translator.usage or ctx.usage
        resp.close()
        release()


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
