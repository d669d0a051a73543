"""The composition root: builds every component once from the config, in one ordered list.

The list is the order of everything: components start in it and stop in reverse (the store
opens first and closes last), and their stages, in the same order, are the request's way
(see docs/ARCHITECTURE.md). Adding a stage or a protocol is one entry; a feature that is
off is None and adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Generator
from typing import Any

from aigw.batches.component import Batches
from aigw.cache.stage import CacheStage
from aigw.component import Component
from aigw.config import Config
from aigw.limits.stage import build as build_limits
from aigw.observability.component import Observability
from aigw.pipeline import Handler, Stage, compose
from aigw.providers.http import UpstreamClient
from aigw.responses.stage import Conversations
from aigw.routing.cost_router import build as build_cost_router
from aigw.routing.dispatch import Dispatcher
from aigw.routing.router import Router
from aigw.store.accounts import Accounts

log = logging.getLogger("aigw")


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._background: set[asyncio.Task[None]] = set()

        self.accounts = Accounts(config)  # store, keys, usage, budgets
        self.client = UpstreamClient(config.providers)
        self.router = Router(config)
        self.dispatcher = Dispatcher(self.router, self.client, config.routing)
        self.observability = Observability(config, self.accounts.pricer)
        self.client.observer = self.observability.upstream
        self.cost_router = build_cost_router(config)
        self.limits = build_limits(config)
        self.cache = CacheStage.from_config(config.cache) if config.cache.enabled else None
        self.conversations = Conversations(self.accounts.store, config.responses)
        self.batches = Batches(self) if config.batches.enabled else None

        parts: list[Component | None] = [
            self.accounts,  # the store: opens first, closes last
            self.client,  # upstream connection pools
            self.dispatcher,  # Redis: shared breakers, cluster-wide leases
            # The request's way, outermost first; the dispatcher is the last handler.
            self.observability,  # 1. metrics, traces, prompt logs of the whole request
            self.accounts.auth_stage,  # 2. principal from API key or JWT
            self.conversations,  # /v1/responses: previous_response_id, store, chat body
            self.accounts.usage_stage,  # 3. usage recording (every answered request)
            self.cost_router,  # 4. "auto" -> a model, before what counts or prices by model
            self.limits,  # 5. rate limits (requests and tokens, reserve then settle)
            self.accounts.budget_stage,  # 6. budgets (reserve worst-case cost, settle real)
            self.cache,  # 7. exact, then semantic
            self.batches,  # batch jobs: a worker running lines through these stages
        ]
        self.parts: list[Component] = [p for p in parts if p is not None]
        self.observability.watch(self.parts)

        self.stages: list[Stage] = self.stages_of("chat")
        self.chat: Handler = self.observability.compose(self.stages, self.dispatcher.chat)
        self.embeddings: Handler = self.observability.compose(
            self.stages_of("embeddings"), self.dispatcher.embeddings
        )
        self.responses: Handler = self.observability.compose(
            self.stages_of("responses"), self.dispatcher.responses
        )
        # /v1/messages/count_tokens (authenticated by its route): the cost router, then the
        # dispatcher; no usage, limits or cache for a count.
        self.count_tokens: Handler = compose(
            [self.cost_router] if self.cost_router is not None else [],
            self.dispatcher.count_tokens,
        )

    def stages_of(self, endpoint: str) -> list[Stage]:
        """The stages a request to `endpoint` goes through, outermost first."""
        return [
            p.stage
            for p in self.parts
            if p.stage is not None and (p.endpoints is None or endpoint in p.endpoints)
        ]

    async def start(self) -> None:
        for part in self.parts:
            await part.start()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run bookkeeping that must not hold up the answer; `stop` waits for what is left.

        The coroutine runs at once, up to its first real wait: usually (usage queued,
        metrics counted) it finishes right there, and no task is made for it (a task per
        request measured ~6% of a pass-through request). Only what still waits (a Redis
        settle, a database call) continues in a task."""
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
        except Exception:
            log.exception("background bookkeeping failed")
            return
        task = asyncio.get_running_loop().create_task(_resume(coro, waiting_on))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for part in reversed(self.parts):
            await part.stop()


class _Rest:
    """Awaiting this continues a coroutine that already ran its first step and is waiting on
    `waiting_on` (what it yielded), exactly as if the task had run it from the start."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        yielded = self.waiting_on
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as e:  # cancellation and errors go into the coroutine
                try:
                    yielded = self.coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    yielded = self.coro.send(sent)
                except StopIteration:
                    return


async def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    try:
        await _Rest(coro, waiting_on)
    except Exception:
        log.exception("background bookkeeping failed")
