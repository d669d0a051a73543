"""Accepting connections: every queued connection each time the listening socket is ready.

libuv, under uvloop, accepts one connection per turn of the event loop (libuv PR #3696:
level-triggered polling brings the next one a turn later). On an idle loop that costs
nothing; on a busy one a turn lasts milliseconds, so a burst of N new connections waits up
to N turns for its first answer: 100 connections opened at once to a worker busy with 64
others waited up to 1.1 s, where an answer took ~10 ms (bench/RESULTS.md). The site below
watches the listening socket itself and accepts everything queued (up to `BATCH` per turn,
as asyncio's own loop does), so a new connection waits at most a turn or two, whatever
arrived with it. Each worker has its own SO_REUSEPORT socket (`aigw serve --workers N`), so
accepting greedily takes nothing from the other workers: the kernel chose at the handshake.

Where the loop cannot watch a socket (Windows' proactor loop), the loop's own server runs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from typing import Any

from aiohttp import web

log = logging.getLogger("aigw")

BATCH = 128  # connections accepted per turn at most: the rest wait for the next turn
RETRY_AFTER = 1.0  # seconds without accepting once the process is out of file descriptors
# The client gave up between its handshake and our accept: nothing to do but go on.
_GONE = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET, errno.EPERM})


class Acceptor:
    """What the site keeps as its server: accepts on `sock` until closed."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, factory: Any, batch: int
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.sockets = [sock]  # aiohttp's runner reads `addresses` from here
        self.factory = factory
        self.batch = batch
        self.opening: set[asyncio.Task[Any]] = set()  # held until their transports exist
        self.retry: asyncio.TimerHandle | None = None
        self.retry_after = RETRY_AFTER
        self.closed = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self.accept)

    def accept(self) -> None:
        for _ in range(self.batch):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # nothing more queued
            except OSError as e:
                if e.errno in _GONE:
                    continue
                # Out of descriptors (or worse): the queue stays with the kernel (the listen
                # backlog) while open connections finish, instead of spinning on the error.
                log.error(
                    "cannot accept connections: %s; retrying in %g s",
                    e.strerror or e,
                    self.retry_after,
                )
                self.loop.remove_reader(self.sock.fileno())
                self.retry = self.loop.call_later(self.retry_after, self._resume)
                return
            conn.setblocking(False)
            task = self.loop.create_task(self.loop.connect_accepted_socket(self.factory, conn))
            self.opening.add(task)
            task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[Any]) -> None:
        self.opening.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not open an accepted connection", exc_info=task.exception())

    def _resume(self) -> None:
        self.retry = None
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def close(self) -> None:
        """Stop accepting (connections already open are the handler's to finish)."""
        if self.closed:
            return
        self.closed = True
        if self.retry is not None:
            self.retry.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    async def wait_closed(self) -> None:
        return None


class AcceptSite(web.SockSite):
    """`web.SockSite` on a bound, listening socket, accepting in batches (above)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        if self._ssl_context is None:
            try:
                self._server = Acceptor(loop, self._sock, server, BATCH)  # type: ignore[assignment]
                return
            except NotImplementedError:  # no add_reader on this loop
                pass
        self._server = await loop.create_server(server, sock=self._sock, ssl=self._ssl_context)
