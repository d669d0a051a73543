"""Stage 3: usage recording. For every request that reached this stage, once its answer
(or error) has been sent: one usage record with tokens, cost, latency and cache outcome,
handed to the usage writer (a journal append; the database write happens in batches)."""

from __future__ import annotations

import time
from typing import Any

from aigw.billing.cost import Pricer
from aigw.component import StageComponent
from aigw.ids import ordered_id
from aigw.pipeline import Handler, RequestContext, Result
from aigw.store.usage_writer import UsageWriter


class UsageRecorder(StageComponent):
    def __init__(self, writer: UsageWriter, pricer: Pricer) -> None:
        self.writer = writer
        self.pricer = pricer

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        ctx.on_finish(self._record)
        return await call_next(ctx)

    def _record(self, ctx: RequestContext) -> None:
        self.writer.enqueue(self.record_of(ctx))

    def record_of(self, ctx: RequestContext) -> dict[str, Any]:
        cost, saved = self.pricer.cost_of(ctx)
        u = ctx.usage
        p = ctx.principal
        return {
            "id": ordered_id(),  # the record's own id: replays are idempotent on it
            "request_id": ctx.request_id,
            "ts": time.time(),
            "org_id": p.org_id,
            "user_id": p.user_id,
            "key_id": p.key_id,
            "endpoint": ctx.endpoint,
            "model": ctx.model,
            "provider": ctx.provider,
            "deployment": ctx.deployment,
            "prompt_tokens": u.prompt_tokens if u else 0,
            "completion_tokens": u.completion_tokens if u else 0,
            "cached_tokens": u.cached_tokens if u else 0,
            "cost_usd": cost,
            "saved_usd": saved,
            "latency_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
            "cache": ctx.cache,
            "status": ctx.status or 200,
            "batch_id": ctx.batch_id,
        }
