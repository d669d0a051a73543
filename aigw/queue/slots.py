"""Concurrency slots of one deployment, handed out in priority order.

A request takes a slot before its upstream call and gives it back when the answer (or the
stream) has ended. When all `limit` slots are taken, it waits in a priority queue: higher
priority first, first come first served within a priority. A waiter that cannot get a slot
before its deadline is turned away (503 or 429 with Retry-After) instead of waiting forever.

A released slot goes straight to the next waiter (the count of slots in use does not dip), so
a newcomer cannot overtake the queue. Cancelled waiters leave the queue; a slot handed to a
waiter that was cancelled in the same instant is passed on, never lost.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

from aigw.types import GatewayError


class SlotPool:
    __slots__ = ("_heap", "_seq", "in_use", "limit", "name", "rejected", "waited_total", "waiting")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.in_use = 0
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.waiting = 0  # live waiters (cancelled ones may linger in the heap until popped)
        self.waited_total = 0.0  # seconds spent queueing, summed (metrics read it)
        self.rejected = 0

    async def acquire(
        self,
        priority: int,
        deadline: float,
        reject_status: int = 503,
        retry_after: float = 1.0,
    ) -> float:
        """Take a slot; return the seconds waited. `deadline` is a time.monotonic() value."""
        if self.in_use < self.limit and not self.waiting:
            self.in_use += 1
            return 0.0
        t0 = time.monotonic()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (-priority, next(self._seq), fut))
        self.waiting += 1
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                await fut
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return self._waited(t0)  # the slot came in the same instant: keep it
            fut.cancel()
            self.rejected += 1
            raise self._rejection(reject_status, retry_after) from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()  # handed over while we were being cancelled: pass it on
            fut.cancel()
            raise
        finally:
            self.waiting -= 1
        return self._waited(t0)

    def _waited(self, t0: float) -> float:
        w = time.monotonic() - t0
        self.waited_total += w
        return w

    def release(self) -> None:
        heap = self._heap
        while heap:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)  # the slot changes hands; in_use stays the same
                return
        self.in_use -= 1

    def _rejection(self, status: int, retry_after: float) -> GatewayError:
        return GatewayError(
            status,
            f"Deployment {self.name} is at capacity ({self.limit} concurrent requests): "
            "the request could not start before its deadline. Retry later or raise "
            "x-aigw-timeout.",
            "rate_limit_error" if status == 429 else "api_error",
            "queue_timeout",
            retry_after=retry_after,
        )


def _loop_time(deadline: float) -> float:
    """Convert a time.monotonic() deadline to the event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())
