"""The composition root: builds every component once from the config and wires the stages.

To add a stage (auth, limits, cache, ...): build it in `Gateway.__init__` and put it in
`self.stages` at its place on the request's way. Components with connections to open or
close register them with `on_start` / `on_stop`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from aigw.config import Config
from aigw.limits.stage import build as build_limits
from aigw.observability.component import Observability
from aigw.pipeline import Handler, Stage, compose
from aigw.providers.http import UpstreamClient
from aigw.routing.dispatch import Dispatcher
from aigw.routing.router import Router
from aigw.store.accounts import Accounts

log = logging.getLogger("aigw")

Hook = Callable[[], Awaitable[None]]


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._start: list[Hook] = []
        self._stop: list[Hook] = []
        self._background: set[asyncio.Task[None]] = set()

        self.client = UpstreamClient(config.providers)
        self.on_start(self.client.start)
        self.on_stop(self.client.close)
        self.router = Router(config)
        self.dispatcher = Dispatcher(self.router, self.client, config.routing)
        self.on_start(self.dispatcher.start)  # Redis: shared breakers, cluster-wide leases
        self.on_stop(self.dispatcher.stop)
        # Store, keys, usage and budgets (stages below); the store opens first, closes last.
        self.accounts = Accounts(config)
        self._start.insert(0, self.accounts.start)
        self._stop.insert(0, self.accounts.stop)

        # The request's way, outermost first (see docs/ARCHITECTURE.md). Each component
        # builds its stage here and puts it in its place; an absent feature adds nothing.
        self.stages: list[Stage] = []
        # 1. observability (metrics/tracing of the whole request)
        self.observability = Observability(config)
        self.observability.install(self)
        if self.observability.stage is not None:
            self.stages.append(self.observability.stage)
        # 2. auth (principal from API key or JWT)
        self.stages.append(self.accounts.auth_stage)
        # 3. usage recording (registers on_finish: every answered request, hits included)
        self.stages.append(self.accounts.usage_stage)
        # 4. cost router ("auto" -> concrete model name), before what counts by model: limits
        #    and budgets see (and price) the model that will answer, not "auto"
        from aigw.routing.cost_router import build as build_cost_router

        self.cost_router = build_cost_router(config)
        if self.cost_router is not None:
            self.stages.append(self.cost_router)
        # 5. rate limits (requests and tokens, reserve then settle)
        self.limits = build_limits(config)
        if self.limits is not None:
            self.stages.append(self.limits)
            self.on_start(self.limits.limiter.start)
            self.on_stop(self.limits.limiter.close)
            if self.observability.metrics is not None:
                self.limits.register_metrics(self.observability.metrics)
        # 6. budgets and quotas (reserve worst-case cost, settle real)
        self.stages.append(self.accounts.budget_stage)
        # 7. cache (exact, then semantic)
        self.cache = None
        if config.cache.enabled:
            from aigw.cache.stage import CacheStage

            self.cache = CacheStage.from_config(config.cache)
            self.stages.append(self.cache)
            self.on_start(self.cache.start)
            self.on_stop(self.cache.close)
        # last: dispatcher (queue, retries, breakers, failover), below

        self.chat: Handler = self.observability.compose(self.stages, self.dispatcher.chat)
        self.embeddings: Handler = self.observability.compose(
            self.stages, self.dispatcher.embeddings
        )
        # /v1/messages/count_tokens (authenticated by its route): the cost router, then the
        # dispatcher; no usage, limits or cache for a count.
        self.count_tokens: Handler = compose(
            [self.cost_router] if self.cost_router is not None else [],
            self.dispatcher.count_tokens,
        )

    def on_start(self, hook: Hook) -> None:
        self._start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        self._stop.append(hook)

    async def start(self) -> None:
        for hook in self._start:
            await hook()

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
        for hook in reversed(self._stop):
            await hook()


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
