"""Failed console sign-ins per client address: after `max_failed_logins` failures within the
window, that address gets 429 until the oldest failure leaves the window. Bounded: at most
`max_addresses` addresses are tracked (the stalest is forgotten first). Per process: with
several instances an address gets that many tries on each, still far too few to guess a key."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(
        self,
        max_failures: int,
        window: float,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, addr: str) -> deque[float] | None:
        q = self._failures.get(addr)
        if q is None:
            return None
        cutoff = self.clock() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        if not q:
            del self._failures[addr]
            return None
        return q

    def retry_after(self, addr: str) -> float | None:
        """Seconds until this address may try again, or None when it may try now."""
        q = self._recent(addr)
        if q is None or len(q) < self.max_failures:
            return None
        return max(1.0, q[0] + self.window - self.clock())

    def failed(self, addr: str) -> None:
        q = self._recent(addr)
        if q is None:
            q = self._failures[addr] = deque(maxlen=self.max_failures)
        self._failures.move_to_end(addr)
        q.append(self.clock())
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, addr: str) -> None:
        self._failures.pop(addr, None)
