"""The batch worker of one gateway process: validates new batches, claims lines and runs
them (at most `batches.concurrency` at once), records each result, and writes a batch's
files when nothing of it is left to run. Every step is a database transaction, so any number
of processes and instances share the work and a killed one loses nothing but its leases.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import IO

import orjson

from aigw.batches import objects
from aigw.batches.auth import from_snapshot
from aigw.batches.endpoints import ENDPOINTS
from aigw.batches.objects import BatchRow
from aigw.batches.runner import Outcome, run_line
from aigw.batches.settings import BatchesConfig
from aigw.batches.store import BatchStore
from aigw.batches.validation import parse
from aigw.ids import hex_id
from aigw.pipeline import Handler
from aigw.types import Principal

log = logging.getLogger("aigw.batches")

_RATE_WINDOW = 30.0  # seconds over which lines per second is measured
_INTERRUPTED = orjson.dumps(
    objects.not_run(
        "interrupted",
        "The gateway running this line stopped while it was in flight; with "
        "batches.on_interrupted: fail it is not run again.",
    )
)
_EXPIRED = orjson.dumps(
    objects.not_run(
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    )
)


class BatchWorker:
    def __init__(
        self,
        cfg: BatchesConfig,
        store: BatchStore,
        handler_for: Callable[[str], Handler],
        solo_lock: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        # SQLite: one process per database file runs batch work (the holder of this file
        # lock; another takes over when it dies). Several writers on one SQLite file only
        # wait on each other; PostgreSQL's row locks let every process work.
        self.solo_lock = solo_lock
        self._lock_file: IO[bytes] | None = None
        self.handler_for = handler_for  # endpoint url -> the batch chain for it
        self.name = "w-" + hex_id(8)  # this process's claims
        self._inflight: set[asyncio.Task[None]] = set()
        self._runnable: list[BatchRow] = []  # the batches to claim from, oldest first
        self._paused: dict[str, float] = {}  # batch id -> monotonic time to claim again
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._next_chores = 0.0
        self._done_at: deque[float] = deque()
        # Figures for the metrics (gauges read them at scrape time).
        self.queued = 0
        self.oldest_started: float | None = None

    # --- life cycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="aigw-batches"),
            asyncio.create_task(self._renew(), name="aigw-batches-leases"),
        ]

    async def stop(self, drain: float) -> None:
        """Stop claiming; let the lines in flight finish (up to `drain` seconds) and record
        them; lines cut off are given back at once (or failed, with on_interrupted: fail)."""
        self._stopping = True
        self._wake.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=drain)
        for t in list(self._inflight):
            t.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock: another process takes over
            self._lock_file = None

    def wake(self) -> None:
        """A batch was created or cancelled here: look now, not at the next poll."""
        self._wake.set()

    def lines_per_second(self) -> float:
        self._forget_old()
        return len(self._done_at) / _RATE_WINDOW

    def _forget_old(self) -> None:
        cut = time.monotonic() - _RATE_WINDOW
        while self._done_at and self._done_at[0] < cut:
            self._done_at.popleft()

    def oldest_pending_age(self) -> float:
        return 0.0 if self.oldest_started is None else max(0.0, time.time() - self.oldest_started)

    # --- the loop ----------------------------------------------------------------------
    async def _loop(self) -> None:
        while not self._stopping:
            if not self._may_work():
                await self._idle(self.cfg.poll_interval)
                continue
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the store is down, or a bug: log, wait, go on
                log.warning("batch worker step failed", extra={"error": repr(e)[:300]})
                await self._idle(self.cfg.poll_interval)
                continue
            await self._idle(self.cfg.poll_interval)

    def _may_work(self) -> bool:
        """Whether this process holds the batch work of its SQLite file (always, on
        PostgreSQL). Taking the lock never waits."""
        if self.solo_lock is None or self._lock_file is not None:
            return True
        try:
            import fcntl
        except ImportError:  # Windows: one worker process anyway
            return True
        f = open(self.solo_lock, "ab")  # noqa: SIM115 - held open while this process works
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._lock_file = f
        return True

    async def _idle(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def _step(self) -> None:
        if time.monotonic() >= self._next_chores or not self._inflight:
            self._next_chores = time.monotonic() + self.cfg.poll_interval
            await self._chores(time.time())
        if self._stopping:
            return
        free = self.cfg.concurrency - len(self._inflight)
        # Claim when at least half of this worker's slots are free (or it is idle): one
        # transaction for several lines, and every claimed line starts at once.
        if free > 0 and (free * 2 >= self.cfg.concurrency or not self._inflight):
            await self._fill(free)

    async def _fill(self, want: int) -> None:
        """Claim up to `want` lines, from the oldest batches that have some."""
        mono = time.monotonic()
        for b in list(self._runnable):
            if self._paused.get(b.id, 0.0) > mono:
                continue
            claimed = await self.store.claim(
                b.id,
                self.name,
                want,
                time.time(),
                self.cfg.lease,
                reclaim=self.cfg.on_interrupted == "retry",
            )
            if len(claimed) < want:
                self._runnable.remove(b)  # nothing more to take there until the next chores
            creator = _creator(b)
            for line_no, _cid, body, attempts in claimed:
                self._launch(b.id, b.endpoint, creator, line_no, body, attempts)
            want -= len(claimed)
            if want <= 0:
                return

    def _launch(
        self, batch_id: str, url: str, creator: Principal, line_no: int, body: str, attempts: int
    ) -> None:
        t = asyncio.create_task(self._run(batch_id, url, creator, line_no, body, attempts))
        self._inflight.add(t)
        t.add_done_callback(self._line_done)

    def _line_done(self, t: asyncio.Task[None]) -> None:
        self._inflight.discard(t)
        self._wake.set()

    async def _chores(self, now: float) -> None:
        """Expire overdue batches, validate new ones, finish those with nothing left."""
        await self.store.expire(now, _EXPIRED)
        await self.store.sweep_dead(now, _EXPIRED)
        if self.cfg.on_interrupted == "fail":
            await self.store.fail_interrupted(now, _INTERRUPTED)
        while not self._stopping and (b := await self.store.take_validating(now, self.cfg.lease)):
            await self._validate(b.id, b.endpoint, b.input_file_id, b.org_id)
        while not self._stopping and (b := await self.store.take_finishable(now, self.cfg.lease)):
            await self.store.finish(b)
            log.info("batch finished", extra={"batch": b.id})
        self.queued, self.oldest_started = await self.store.queue_stats()
        self._runnable = await self.store.runnable()
        mono = time.monotonic()
        self._paused = {k: v for k, v in self._paused.items() if v > mono}

    async def _validate(self, batch_id: str, endpoint: str, file_id: str, org: str) -> None:
        content = await self.store.file_content(file_id, org)
        if content is None:
            await self.store.fail_validation(
                batch_id,
                [
                    {
                        "code": "file_not_found",
                        "line": None,
                        "param": "input_file_id",
                        "message": f"The input file {file_id} no longer exists.",
                    }
                ],
            )
            return
        parsed = await asyncio.to_thread(parse, content, endpoint, self.cfg.max_lines)
        if parsed.errors:
            await self.store.fail_validation(batch_id, parsed.errors)
            log.info("batch failed validation", extra={"batch": batch_id})
        elif await self.store.start(batch_id, parsed.lines, parsed.model):
            log.info("batch started", extra={"batch": batch_id, "lines": len(parsed.lines)})

    # --- one line ----------------------------------------------------------------------
    async def _run(
        self, batch_id: str, url: str, creator: Principal, line_no: int, body: str, attempts: int
    ) -> None:
        try:
            out = await run_line(ENDPOINTS[url], self.handler_for(url), creator, batch_id, body)
            await self._settle(batch_id, line_no, attempts, out)
        except asyncio.CancelledError:
            # Cut off by shutdown: give the line back now rather than at the lease's end
            # (with on_interrupted: fail the lease runs out and the line is failed instead).
            if self.cfg.on_interrupted == "retry":
                await asyncio.shield(
                    self.store.release(batch_id, line_no, self.name, 0.0, counted=False)
                )
            raise
        except Exception as e:  # the store went away: the lease runs out, another takes it
            log.warning(
                "batch line not recorded", extra={"batch": batch_id, "error": repr(e)[:300]}
            )

    async def _settle(self, batch_id: str, line_no: int, attempts: int, out: Outcome) -> None:
        if out.kind == "retry" and (not out.counted or attempts < self.cfg.max_attempts):
            wait = out.retry_after
            if out.counted:  # backoff with jitter between tries of a failing upstream
                cap = min(60.0, self.cfg.retry_delay * 2.0 ** (attempts - 1))
                wait = max(wait, random.uniform(0, cap))
            else:  # the gateway's own limit or queue: pause this batch here for as long
                self._paused[batch_id] = time.monotonic() + wait
            await self.store.release(batch_id, line_no, self.name, time.time() + wait, out.counted)
            return
        u = out.usage
        tokens = (u.prompt_tokens, u.completion_tokens, u.cached_tokens) if u else (0, 0, 0)
        await self.store.record(
            batch_id, line_no, self.name, out.ok, out.request_id, out.result, tokens
        )
        self._done_at.append(time.monotonic())
        self._forget_old()
        if out.kind == "stop":
            await self.store.fail_pending(batch_id, out.stop_result)
            log.info("batch stopped: budget exhausted", extra={"batch": batch_id})

    async def _renew(self) -> None:
        """Keep this process's claims alive: renew every lease a third of the way in."""
        while True:
            await asyncio.sleep(self.cfg.lease / 3)
            if not self._inflight:
                continue
            try:
                await self.store.renew(self.name, time.time() + self.cfg.lease)
            except Exception as e:
                log.warning("batch leases not renewed", extra={"error": repr(e)[:300]})


def _creator(b: BatchRow) -> Principal:
    if b.key_id is not None:
        return Principal(org_id=b.org_id, key_id=b.key_id, via="api_key")
    return from_snapshot(b.principal or {"org_id": b.org_id})
