"""Batch jobs as one component of the gateway: the store queries, the batch chain for each
endpoint (the gateway's own stages for that endpoint, with the batch auth stage in auth's
place), the worker, its gauges and its routes. Last in the gateway's list of parts: it
starts when everything it runs through is up, and stops first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aigw.batches.auth import BatchAuthStage
from aigw.batches.endpoints import ENDPOINTS
from aigw.batches.store import BatchStore
from aigw.batches.worker import BatchWorker
from aigw.component import Component, Gauge
from aigw.pipeline import Handler, Stage

if TYPE_CHECKING:
    from aigw.server.gateway import Gateway


class Batches(Component):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.config = gw.config
        store = gw.accounts.store
        self.store = BatchStore(store)
        self.handlers: dict[str, Handler] = {}
        solo = None
        if store.dialect == "sqlite":  # one batch worker per database file (worker.py)
            solo = store.where[len("sqlite:///") :] + ".batches-lock"
        self.worker = BatchWorker(gw.config.batches, self.store, self.handlers.__getitem__, solo)

    def _compose(self) -> None:
        """The chains, once the gateway's parts all exist."""
        gw = self.gw
        auth = BatchAuthStage(gw.accounts.auth, gw.accounts.store)
        for url, e in ENDPOINTS.items():
            stages: list[Stage] = [
                auth if s is gw.accounts.auth_stage else s for s in gw.stages_of(e.name)
            ]
            self.handlers[url] = gw.observability.compose(
                stages, e.last(gw.dispatcher), "aigw.batch"
            )

    async def start(self) -> None:
        self._compose()
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop(self.config.server.drain_timeout)

    def gauges(self) -> Iterable[Gauge]:
        w = self.worker
        return (
            Gauge(
                "batch_lines_queued",
                lambda: w.queued,
                "Lines of running batches not yet done (pending or in flight), all instances.",
                mode="max",
            ),
            Gauge(
                "batch_lines_per_second",
                w.lines_per_second,
                "Batch lines this process finished per second (last 30 s).",
            ),
            Gauge(
                "batch_oldest_pending_seconds",
                w.oldest_pending_age,
                "Age of the oldest running batch that still has lines waiting.",
                mode="max",
            ),
        )
