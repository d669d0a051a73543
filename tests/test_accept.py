"""Accepting connections (server/accept.py): every queued connection per turn of the loop,
not one (libuv's way under uvloop), so a burst of new connections is not served one loop
turn at a time."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aigw.cli.serve import bind_socket
from aigw.server.accept import Acceptor
from tests.conftest import mock_config
from tests.procs import ServeProcess


class Counting(asyncio.Protocol):
    made: list[Counting] = []
    enough = 0  # how many make `all_made` set
    all_made: asyncio.Event | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        Counting.made.append(self)
        if Counting.all_made is not None and len(Counting.made) >= Counting.enough:
            Counting.all_made.set()


def queued(listening: socket.socket) -> int:
    """Connections waiting in the kernel's accept queue (Linux: `tcpi_unacked` of a
    listening socket's TCP_INFO)."""
    info = listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("=I", info, 24)[0])


def connect_all(listening: socket.socket, n: int) -> list[socket.socket]:
    """n clients whose handshakes the kernel has completed: all n wait to be accepted."""
    clients = [socket.create_connection(listening.getsockname()[:2]) for _ in range(n)]
    deadline = time.monotonic() + 10  # loopback handshakes end before connect returns, but
    while queued(listening) < n:  # a loaded machine may leave the last ACK to ksoftirqd
        assert time.monotonic() < deadline, queued(listening)
        time.sleep(0.001)
    return clients


async def opened(acceptor: Acceptor) -> None:
    while acceptor.opening:
        await asyncio.gather(*acceptor.opening)


class Scene:
    """Listening sockets with acceptors, clients, and the connections made: all closed at the
    end of the test."""

    def __init__(self) -> None:
        self.made = Counting.made = []
        Counting.all_made = None
        self.acceptors: list[Acceptor] = []
        self.clients: list[socket.socket] = []

    def acceptor(self, batch: int = 128, sock: socket.socket | None = None) -> Acceptor:
        sock = sock or bind_socket("127.0.0.1", 0, reuse_port=False)
        acceptor = Acceptor(asyncio.get_running_loop(), sock, Counting, batch)
        self.acceptors.append(acceptor)
        return acceptor

    def connect(self, acceptor: Acceptor, n: int) -> list[socket.socket]:
        clients = connect_all(acceptor.sock, n)
        self.clients += clients
        return clients

    def close(self) -> None:
        for a in self.acceptors:
            a.close()
        for c in self.clients:
            c.close()
        for p in self.made:
            p.transport.close()


@pytest.fixture
async def scene() -> AsyncIterator[Scene]:
    s = Scene()
    yield s
    s.close()


async def test_one_turn_accepts_everything_queued(scene: Scene) -> None:
    acceptor = scene.acceptor()
    clients = scene.connect(acceptor, 40)
    acceptor.accept()  # what one readiness event of the listening socket runs
    assert queued(acceptor.sock) == 0 and len(acceptor.opening) == 40
    await opened(acceptor)
    assert len(scene.made) == 40
    peers = {p.transport.get_extra_info("peername") for p in scene.made}
    assert peers == {c.getsockname() for c in clients}


async def test_a_turn_accepts_at_most_a_batch(scene: Scene) -> None:
    acceptor = scene.acceptor(batch=16)
    asyncio.get_running_loop().remove_reader(acceptor.sock.fileno())  # the test runs the turns
    scene.connect(acceptor, 40)
    counts = []
    for _ in range(4):
        acceptor.accept()
        counts.append((len(acceptor.opening), queued(acceptor.sock)))
        await opened(acceptor)
    assert counts == [(16, 24), (16, 8), (8, 0), (0, 0)]  # the rest waited in the kernel
    assert len(scene.made) == 40


class RunsOutOfDescriptors(socket.socket):
    """The listening socket of a process out of file descriptors, for its first accept."""

    failures = 1

    def accept(self) -> tuple[socket.socket, Any]:
        if RunsOutOfDescriptors.failures:
            RunsOutOfDescriptors.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def test_out_of_descriptors_pauses_then_accepts_again(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    RunsOutOfDescriptors.failures = 1
    plain = bind_socket("127.0.0.1", 0, reuse_port=False)
    acceptor = scene.acceptor(
        sock=RunsOutOfDescriptors(plain.family, plain.type, fileno=plain.detach())
    )
    acceptor.retry_after = 0.05
    Counting.enough, Counting.all_made = 3, asyncio.Event()
    scene.connect(acceptor, 3)
    with caplog.at_level(logging.ERROR, logger="aigw"):
        acceptor.accept()
    assert acceptor.retry is not None and not acceptor.opening  # paused, not spinning
    assert "cannot accept connections: Too many open files; retrying in 0.05 s" in caplog.text
    async with asyncio.timeout(10):  # resumed by its own timer, then accepts the three
        await Counting.all_made.wait()
    assert acceptor.retry is None and len(scene.made) == 3


async def test_closed_acceptor_refuses_new_connections(scene: Scene) -> None:
    acceptor = scene.acceptor()
    port = acceptor.sock.getsockname()[1]
    acceptor.close()
    acceptor.close()  # twice is harmless (a runner may stop a site that stopped)
    assert acceptor.sock.fileno() == -1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port)).close()


async def test_serve_answers_a_burst_of_new_connections(mock: Any, tmp_path: Path) -> None:
    """`aigw serve` (uvloop): 200 connections opened together, one request on each, all
    answered; then it stops cleanly."""
    srv = ServeProcess(mock_config(mock.url, logging={"level": "warning"}), tmp_path)
    try:
        await srv.ready()
        body = b'{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}'
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
        )

        async def one() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(request)
            answer = await reader.read()
            writer.close()
            return answer

        async with asyncio.timeout(60):
            answers = await asyncio.gather(*(one() for _ in range(200)))
        assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers)
        assert mock.count == 200
    finally:
        assert await srv.stop() == 0
