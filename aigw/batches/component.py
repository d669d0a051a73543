"""Batch jobs as one component of the gateway: the store queries, the batch chain for each
endpoint (the gateway's own stages with the batch auth stage in auth's place), the worker,
its metrics and its routes. Built by `server/gateway.py` with one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aigw.batches.auth import BatchAuthStage
from aigw.batches.endpoints import ENDPOINTS
from aigw.batches.store import BatchStore
from aigw.batches.worker import BatchWorker
from aigw.pipeline import Handler, Stage

if TYPE_CHECKING:
    from aigw.server.gateway import Gateway


class Batches:
    def __init__(self, gw: Gateway) -> None:
        cfg = gw.config.batches
        self.config = gw.config
        self.store = BatchStore(gw.accounts.store)
        auth = BatchAuthStage(gw.accounts.auth, gw.accounts.store)
        stages: list[Stage] = [auth if s is gw.accounts.auth_stage else s for s in gw.stages]
        self.handlers: dict[str, Handler] = {
            url: gw.observability.compose(stages, e.last(gw.dispatcher), "aigw.batch")
            for url, e in ENDPOINTS.items()
        }
        store = gw.accounts.store
        solo = None
        if store.dialect == "sqlite":  # one batch worker per database file (worker.py)
            solo = store.where[len("sqlite:///") :] + ".batches-lock"
        self.worker = BatchWorker(cfg, self.store, self.handlers.__getitem__, solo)
        self.metrics = gw.observability.metrics

    async def start(self) -> None:
        if self.metrics is not None:
            m, w = self.metrics, self.worker
            m.register_gauge_source(
                "batch_lines_queued",
                lambda: w.queued,
                "Lines of running batches not yet done (pending or in flight), all instances.",
                mode="max",
            )
            m.register_gauge_source(
                "batch_lines_per_second",
                w.lines_per_second,
                "Batch lines this process finished per second (last 30 s).",
            )
            m.register_gauge_source(
                "batch_oldest_pending_seconds",
                w.oldest_pending_age,
                "Age of the oldest line still waiting in a running batch.",
                mode="max",
            )
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop(self.config.server.drain_timeout)
