"""The upstream HTTP/1.1 client (aigw/providers/http1.py) against real servers on loopback
that write exact bytes: lengths, chunks, gzip, answers ended by closing, truncation,
timeouts, the connection cap, reuse, and giving up on an answer."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aigw.providers.http1 import Pool, UpstreamConnectionError, UpstreamTimeout

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    """A raw HTTP peer: `handler` gets each connection; requests are recorded."""

    handler: Handler
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def read_request(self, r: asyncio.StreamReader) -> bytes | None:
        head = await r.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        req = head + await r.readexactly(length)
        self.requests.append(req)
        return req

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.handler(r, w, self)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            w.close()
            self.closed.set()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        s = Server(handler)
        srv = await asyncio.start_server(s._serve, "127.0.0.1", 0)
        servers.append(srv)
        s.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1"
        return s

    yield start
    for srv in servers:
        srv.close()


def answer(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def answering(data: bytes, hold: bool = False) -> Handler:
    """A peer that reads one request and writes `data`; with `hold`, it then keeps the
    connection open until the client closes it (silence, or an answer left unfinished)."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        if data:
            w.write(data)
            await w.drain()
        if hold:
            await r.read()  # returns when the client closes: the upstream sees it leave

    return handler


async def keep_alive(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
    while True:
        await s.read_request(r)
        w.write(answer(b'{"ok":true}', extra=b"X-Thing: a\r\nX-Thing: b\r\n"))
        await w.drain()


async def test_request_bytes_and_keep_alive_reuse(serve) -> None:
    s = await serve(keep_alive)
    pool = Pool(s.url)
    for _ in range(3):
        resp = await pool.request(
            pool.prefix + "/chat/completions", {"Authorization": "Bearer k"}, b'{"a":1}'
        )
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["x-thing"] == "a, b"  # repeated headers joined, names lower-case
        assert await resp.read() == b'{"ok":true}'
        resp.release()
    port = s.url.split(":")[2].split("/")[0]
    assert s.requests[0] == (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode() + b"\r\n"
        b"Authorization: Bearer k\r\nContent-Length: 7\r\n\r\n" + b'{"a":1}'
    )
    assert s.connections == 1  # one keep-alive connection for all three
    await pool.close()


async def test_idle_connections_past_keepalive_are_not_reused(serve) -> None:
    s = await serve(keep_alive)
    pool = Pool(s.url, keepalive=4.0)
    assert await (await pool.request("/v1/x", {}, b"{}")).read() == b'{"ok":true}'
    (idle,) = pool._idle
    idle.idle_since -= 5.0  # idle for longer than keepalive: the server may be closing it
    assert await (await pool.request("/v1/x", {}, b"{}")).read() == b'{"ok":true}'
    assert s.connections == 2 and idle.closed  # a new connection; the old one closed
    assert await (await pool.request("/v1/x", {}, b"{}")).read() == b'{"ok":true}'
    assert s.connections == 2  # a fresh idle connection is reused
    await pool.close()


async def test_chunked_stream_arrives_piece_by_piece(serve) -> None:
    go_on = asyncio.Event()

    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"6\r\ndata 1\r\n"
        )
        await w.drain()
        await go_on.wait()  # the second piece only after the client has the first
        w.write(b"6\r\ndata 2\r\n0\r\n\r\n")
        await w.drain()
        await keep_alive(r, w, s)

    s = await serve(chunked)
    pool = Pool(s.url)
    resp = await pool.request("/v1/chat/completions", {}, b"{}")
    pieces = []
    async for piece in resp.iter_any():
        pieces.append(piece)
        go_on.set()
    assert pieces == [b"data 1", b"data 2"]
    resp.release()
    again = await pool.request("/v1/x", {}, b"{}")  # the connection is reusable after chunks
    assert await again.read() == b'{"ok":true}'
    assert s.connections == 1
    await pool.close()


async def test_gzip_answer_is_decoded(serve) -> None:
    body = b'{"text":"' + b"hello " * 500 + b'"}'

    s = await serve(answering(answer(gzip.compress(body), extra=b"Content-Encoding: gzip\r\n")))
    pool = Pool(s.url)
    resp = await pool.request("/v1/x", {}, b"{}")
    assert await resp.read() == body
    await pool.close()


async def test_answer_ended_by_close_is_whole_and_not_reused(serve) -> None:
    close_delimited = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 100_000
    s = await serve(answering(close_delimited))
    pool = Pool(s.url)
    for _ in range(2):
        resp = await pool.request("/v1/x", {}, b"{}")
        assert await resp.read() == b"x" * 100_000
    assert s.connections == 2
    await pool.close()


async def test_large_answer_read_whole_and_early_hints_skipped(serve) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, many reads: more than the stream buffer

    async def large(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
        w.write(answer(body))
        await w.drain()
        await keep_alive(r, w, s)

    s = await serve(large)
    pool = Pool(s.url)
    resp = await pool.request("/v1/x", {}, b"{}")
    assert resp.status == 200 and "link" not in resp.headers
    assert await resp.read() == body
    again = await pool.request("/v1/x", {}, b"{}")
    assert await again.read() == b'{"ok":true}'
    assert s.connections == 1
    await pool.close()


async def test_truncated_answer_is_an_error(serve) -> None:
    s = await serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10))
    pool = Pool(s.url)
    resp = await pool.request("/v1/x", {}, b"{}")
    with pytest.raises(UpstreamConnectionError, match="connection lost"):
        await resp.read()
    await pool.close()


async def test_not_http_is_an_error(serve) -> None:
    s = await serve(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", hold=True))
    pool = Pool(s.url)
    with pytest.raises(UpstreamConnectionError, match="bad HTTP answer"):
        await pool.request("/v1/x", {}, b"{}")
    await pool.close()


async def test_read_timeout_counts_silence_not_the_whole_answer(serve) -> None:
    # One byte of body, then silence until the client gives up.
    stalls = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"
    s = await serve(answering(stalls, hold=True))
    pool = Pool(s.url, read_timeout=0.3)
    resp = await pool.request("/v1/x", {}, b"{}")
    t0 = time.monotonic()
    got = []
    with pytest.raises(UpstreamTimeout):
        async for piece in resp.iter_any():
            got.append(piece)
    waited = time.monotonic() - t0
    assert got == [b"a"]
    assert 0.25 <= waited < 3.0
    await asyncio.wait_for(s.closed.wait(), 5)  # the client closed the connection
    assert pool._open == 0
    await pool.close()


async def test_read_timer_of_a_reused_connection_counts_from_its_own_request(serve) -> None:
    # The read timer outlives a request on a kept-alive connection: it must neither fire
    # early for the next request (armed for the first) nor be gone after lapsing while idle.
    async def once_then_silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server):
        await s.read_request(r)
        w.write(answer(b'{"ok":true}'))
        await w.drain()
        while await s.read_request(r):  # later requests get no answer at all
            pass

    s = await serve(once_then_silent)
    pool = Pool(s.url, read_timeout=0.4)
    resp = await pool.request("/v1/x", {}, b"{}")
    assert await resp.read() == b'{"ok":true}'
    await asyncio.sleep(0.25)  # idle for most of a read timeout (the scenario, not a sync)
    t0 = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await pool.request("/v1/x", {}, b"{}")
    assert 0.38 <= time.monotonic() - t0 < 3.0  # the first request's due time did not count
    assert s.connections == 1

    # Idle past the timeout (the timer lapses), then a stalled request on a new connection
    # of the same pool still times out.
    s2 = await serve(once_then_silent)
    pool2 = Pool(s2.url, read_timeout=0.2)
    resp = await pool2.request("/v1/x", {}, b"{}")
    assert await resp.read() == b'{"ok":true}'
    await asyncio.sleep(0.3)
    with pytest.raises(UpstreamTimeout):
        await pool2.request("/v1/x", {}, b"{}")
    assert s2.connections == 1  # the same connection, its timer armed again
    await pool.close()
    await pool2.close()


async def test_no_answer_at_all_times_out(serve) -> None:
    s = await serve(answering(b"", hold=True))
    pool = Pool(s.url, read_timeout=0.2)
    with pytest.raises(UpstreamTimeout):
        await pool.request("/v1/x", {}, b"{}")
    await pool.close()


async def test_refused_connection_is_an_error() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    pool = Pool(f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamConnectionError, match="cannot connect"):
        await pool.request("/x", {}, b"{}")
    assert pool._open == 0  # a failed connect gives its place back
    await pool.close()


async def test_connection_cap_queues_callers(serve) -> None:
    s = await serve(keep_alive)
    pool = Pool(s.url, limit=2)

    async def one(i: int) -> bytes:
        resp = await pool.request("/v1/x", {}, b'{"i":%d}' % i)
        return await resp.read()

    out = await asyncio.gather(*(one(i) for i in range(20)))
    assert out == [b'{"ok":true}'] * 20
    assert s.most_open <= 2
    assert len(s.requests) == 20
    await pool.close()


async def test_abandoned_answer_closes_the_connection(serve) -> None:
    endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
    s = await serve(answering(endless, hold=True))
    pool = Pool(s.url, limit=1)
    resp = await pool.request("/v1/x", {}, b"{}")
    async for piece in resp.iter_any():
        assert piece == b"first"
        break
    resp.close()
    await asyncio.wait_for(s.closed.wait(), 5)
    assert s.open_now == 0
    # its place in the cap is free again: a second request gets a new connection
    s.handler = keep_alive
    again = await pool.request("/v1/x", {}, b"{}")
    assert await again.read() == b'{"ok":true}'
    assert s.connections == 2
    await pool.close()


async def test_cancelled_request_frees_its_place(serve) -> None:
    got_request = asyncio.Event()

    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        got_request.set()
        await r.read()

    s = await serve(slow)
    pool = Pool(s.url, limit=1)
    task = asyncio.create_task(pool.request("/v1/x", {}, b"{}"))
    await got_request.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(s.closed.wait(), 5)  # the half-done connection was closed, not pooled
    s.handler = keep_alive
    resp = await asyncio.wait_for(pool.request("/v1/x", {}, b"{}"), 5)
    assert await resp.read() == b'{"ok":true}'
    await pool.close()


async def test_line_breaks_in_headers_are_refused(serve) -> None:
    s = await serve(keep_alive)
    pool = Pool(s.url)
    with pytest.raises(ValueError, match="line breaks"):
        await pool.request("/v1/x", {"X-Evil": "a\r\nX-Injected: 1"}, b"{}")
    assert s.connections == 0  # nothing was sent
    await pool.close()


async def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        Pool("ftp://example.com")


def _tls_pair(tmp_path):  # a CA and a certificate it signed for 127.0.0.1 / localhost
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aigw test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"


async def test_https_verifies_the_certificate(tmp_path) -> None:
    ca, cert, key = _tls_pair(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    s = Server(keep_alive)
    srv = await asyncio.start_server(s._serve, "127.0.0.1", 0, ssl=server_ctx)
    port = srv.sockets[0].getsockname()[1]
    try:
        trusting = ssl.create_default_context(cafile=str(ca))
        pool = Pool(f"https://localhost:{port}/v1", ssl_context=trusting)
        resp = await pool.request(pool.prefix + "/chat/completions", {}, b"{}")
        assert resp.status == 200 and await resp.read() == b'{"ok":true}'
        assert s.requests[0].startswith(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:%d\r\n" % port
        )
        await pool.close()

        default = Pool(f"https://localhost:{port}/v1")  # the system's CAs: not ours
        with pytest.raises(UpstreamConnectionError, match="cannot connect"):
            await default.request("/v1/x", {}, b"{}")
        assert default._open == 0
        await default.close()
    finally:
        srv.close()


async def test_slow_reader_pauses_the_socket_and_loses_nothing(serve) -> None:
    piece = b"x" * 65536
    pieces = 64  # 4 MiB, far past the 256 KiB the client buffers for a stream

    async def firehose(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await s.read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(pieces):
            w.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            await w.drain()  # waits while the client is not reading
        w.write(b"0\r\n\r\n")
        await w.drain()
        await keep_alive(r, w, s)

    s = await serve(firehose)
    pool = Pool(s.url, read_timeout=5)
    resp = await pool.request("/v1/x", {}, b"{}")
    it = resp.iter_any()
    got = len(await it.__anext__())  # a stream reader from now on; then it stops reading
    conn = resp._conn
    assert conn is not None
    if not conn.paused:  # wait (boundedly) for the buffer limit to stop the socket
        paused = asyncio.Event()
        pause = conn.pause

        def pause_and_tell() -> None:
            pause()
            paused.set()

        conn.pause = pause_and_tell  # type: ignore[method-assign]
        await asyncio.wait_for(paused.wait(), 5)
    assert conn.paused
    assert resp._size < 2 * 256 * 1024  # bounded: the limit plus at most one socket read
    async for data in it:
        got += len(data)
    assert got == len(piece) * pieces  # nothing lost across pause and resume
    again = await pool.request("/v1/x", {}, b"{}")  # and the connection is still good
    assert await again.read() == b'{"ok":true}'
    assert s.connections == 1
    await pool.close()


def test_default_tls_trusts_certifis_bundle_too() -> None:
    import certifi

    from aigw.providers.http1 import default_tls

    bundle = Path(certifi.where()).read_text().count("BEGIN CERTIFICATE")
    ctx = default_tls()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] >= bundle > 100
    assert default_tls() is ctx  # built once, shared by every pool
