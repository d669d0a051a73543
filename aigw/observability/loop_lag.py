"""How late the event loop runs a timer: the direct measure of a stall (a long callback, a
GC pause, a thread holding the GIL, a starved CPU), which the request latencies show only
as a p99 blurred by everything else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Often enough to see stalls of a few milliseconds; ~20 wake-ups a second cost nothing.
PROBE_INTERVAL = 0.05
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


async def probe(observe: Callable[[float], None], interval: float = PROBE_INTERVAL) -> None:
    """Forever: sleep `interval`, observe how much later than asked the loop woke us."""
    clock = time.perf_counter
    while True:
        t = clock()
        await asyncio.sleep(interval)
        observe(max(0.0, clock() - t - interval))
