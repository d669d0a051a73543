"""The in-process backend: the default for one instance, and the local fallback of the Redis
backend. Plain dicts, no awaits inside a decision, so a decision is atomic on the event loop.
`divisor` shares a limit between processes that cannot talk to each other (N workers with no
Redis, or N instances while Redis is down): each enforces limit // divisor."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aigw.limits.gcra import gcra, gcra_adjust
from aigw.limits.rules import GCRA, Check, Outcome
from aigw.limits.tokens import window

SWEEP_EVERY = 4096  # decisions between sweeps of expired state
_NO_WINDOW = (0, 0, 0.0)  # a budget with nothing counted yet


class MemoryBackend:
    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.time, divisor: int = 1) -> None:
        self.clock = clock
        self.divisor = divisor
        self._tat: dict[str, float] = {}
        self._win: dict[str, tuple[int, int, float]] = {}  # key -> (window, used, its end)
        self._decisions = 0
        # Rate state is kept relative to the clock's first reading: small numbers keep float
        # precision far below a microsecond (absolute epoch seconds would not).
        self._origin = clock()

    def share(self, limit: int) -> int:
        return max(1, limit // self.divisor)

    # The decisions themselves never wait: admit_now and adjust are plain calls, for
    # callers that know they talk to this backend; admit and settle are the Backend protocol.
    async def admit(self, checks: Sequence[Check], org: str = "", dry: bool = False) -> Outcome:
        return self.admit_now(checks, dry)

    def admit_now(self, checks: Sequence[Check], dry: bool = False) -> Outcome:
        wall = self.clock()
        now = wall - self._origin
        div = self.divisor
        tats, wins = self._tat, self._win
        n = len(checks)
        remaining = [0] * n
        reset = [0.0] * n
        windows = [0] * n
        states: list[float | tuple[int, int, float]] = [0.0] * n  # each check's state, counted
        wait = 0.0
        denied = -1
        for i, c in enumerate(checks):
            r = c.rule
            limit = r.limit // div if r.limit >= div else 1  # share(), without the call
            if r.kind == GCRA:
                ok, states[i], remaining[i], reset[i], w = gcra(
                    tats.get(c.key, 0.0), now, c.cost, limit, r.period
                )
            else:
                win, used, _ = wins.get(c.key, _NO_WINDOW)
                ok, cur, used, remaining[i], res, w = window(
                    win, used, wall, c.cost, limit, r.period
                )
                states[i] = (cur, used, wall + res)
                reset[i] = res
                windows[i] = cur
            if not ok:
                if w > wait:
                    wait = w
                if denied < 0:
                    denied = i
        allowed = denied < 0
        if allowed and not dry:
            for c, state in zip(checks, states, strict=True):
                if isinstance(state, tuple):
                    wins[c.key] = state
                else:
                    tats[c.key] = state
            self._decisions += 1
            if self._decisions % SWEEP_EVERY == 0:
                self._sweep(now, wall)
        return Outcome(allowed, wait, denied, remaining, reset, windows, self)

    async def settle(
        self,
        checks: Sequence[Check],
        deltas: Sequence[int],
        windows: Sequence[int],
        org: str = "",
    ) -> None:
        for c, d, win in zip(checks, deltas, windows, strict=True):
            if d:
                self.adjust(c, d, win)

    def adjust(self, c: Check, delta: int, win: int) -> None:
        """Settle one check: `delta` more (or, negative, fewer) units than were counted;
        `win` is the budget window they were counted in (`Outcome.windows`)."""
        r = c.rule
        if r.kind == GCRA:
            now = self.clock() - self._origin
            div = self.divisor
            limit = r.limit // div if r.limit >= div else 1  # share(), without the call
            tat = gcra_adjust(self._tat.get(c.key, 0.0), now, delta, limit, r.period)
            if tat <= now:
                self._tat.pop(c.key, None)
            else:
                self._tat[c.key] = tat
        else:
            cur, used, end = self._win.get(c.key, (win, 0, (win + 1) * r.period))
            if cur == win:  # a window that has ended is not charged any more
                self._win[c.key] = (cur, max(0, used + delta), end)

    def _sweep(self, now: float, wall: float) -> None:
        """Forget state that carries no information: full buckets, ended windows."""
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._win = {k: v for k, v in self._win.items() if v[2] > wall}

    def __len__(self) -> int:
        return len(self._tat) + len(self._win)
