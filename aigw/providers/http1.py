"""A lean HTTP/1.1 client for the calls to providers: keep-alive pools, one write per request,
responses parsed by httptools (llhttp, the parser of Node.js, also under uvicorn).

Why not aiohttp's ClientSession: the gateway makes exactly one kind of call (a POST with a
body in memory, an answer read whole or relayed as it arrives), and the general client's
machinery around it (request and response objects, cookie jar, redirects, tracing hooks,
multidicts, a timer rescheduled on every read) cost about a third of a pass-through
request's CPU. This client does that one call and nothing else:

- a pool per upstream origin, at most `limit` connections; idle ones are reused newest first
  and closed after `keepalive` seconds; a waiting caller gets the next freed connection;
- the request (line, headers, body) goes out in one `write`;
- `read_timeout` bounds the wait for each next byte (not the whole answer: a stream may
  last minutes); `connect_timeout` bounds the connection set-up (DNS, TCP, TLS);
- a POST is never sent twice: a connection the server closes as a request goes out (its
  keep-alive ended) fails that request with a retryable error, as in aiohttp, and the
  dispatcher's retries and failover decide; idle connections close after `keepalive`
  seconds to keep that race rare;
- gzip/deflate answers are decoded (none is asked for: upstreams on a LAN answer faster
  plain, and JSON relayed to a client is re-encoded anyway).

Errors: `UpstreamTimeout` (connect or read timeout), `UpstreamConnectionError` (refused,
reset, closed early, not HTTP). Both name the origin, never a header value.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
import zlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

_BUFFER_HIGH = 256 * 1024  # unread answer bytes before the socket is paused (slow reader)


@functools.cache
def default_tls() -> ssl.SSLContext:
    """Certificates verified against the system's CAs plus certifi's (Mozilla's) bundle: the
    one-file build carries an OpenSSL that looks for CA files where the build machine keeps
    them, which another distribution (or macOS) may not. One context for every pool."""
    ctx = ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # not installed: the system's CAs alone
        return ctx
    ctx.load_verify_locations(certifi.where())
    return ctx


class TransportError(Exception):
    """The call failed below HTTP: one of the two kinds below."""


class UpstreamTimeout(TransportError):
    pass


class UpstreamConnectionError(TransportError):
    """`reason` is short and names no host: it may reach a client's error message."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.reason = reason


class Response:
    """An answer: `status` and `headers` (lower-case names) once `Pool.request` returns; the
    body through `read()` (whole) or `iter_any()` (as it arrives). `release()` after the body
    is read; `close()` to give up on it (closes the connection: the upstream sees the client
    go away and stops)."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_decoder",
        "_eof",
        "_exc",
        "_size",
        "_streaming",
        "_waiter",
        "headers",
        "status",
    )

    def __init__(self, conn: _Connection) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self._conn: _Connection | None = conn
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._streaming = False  # read piece by piece: a slow reader pauses the socket
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._exc: BaseException | None = None
        self._decoder: zlib._Decompress | None = None

    # --- fed by the connection ------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            data = self._decoder.decompress(data)
            if not data:
                return
        self._chunks.append(data)
        self._size += len(data)
        if self._streaming and self._size > _BUFFER_HIGH and self._conn is not None:
            self._conn.pause()
        self._wake()

    def _finish(self, exc: BaseException | None = None) -> None:
        if self._eof:
            return
        if exc is None and self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self._eof = True
        self._exc = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    # --- for the caller ---------------------------------------------------------------------
    async def read(self) -> bytes:
        while not self._eof:
            await self._wait()
        if self._exc is not None:
            raise self._exc
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return data

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Each piece as it arrives (several arrivals while the caller was busy come joined)."""
        self._streaming = True
        while True:
            if self._chunks:
                data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                self._size = 0
                if self._conn is not None and self._conn.paused:
                    self._conn.resume()
                yield data
            elif self._eof:
                if self._exc is not None:
                    raise self._exc
                return
            else:
                await self._wait()

    def release(self) -> None:
        """The body was read: the connection already went back to the pool when the answer
        ended. Before that, there is no clean way to reuse it: close it."""
        if not self._eof:
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not self._eof:
            conn.abort()
        self._finish(UpstreamConnectionError("-", "answer abandoned"))


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parses answers, one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.head: asyncio.Future[Response] | None = None
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.closed = False
        self.idle_since = 0.0
        self.last_read = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False
        self.counted = False  # holds a place in the pool's limit
        self.headers_done = False
        self.delimited = True  # the answer says where it ends (length or chunks)

    # --- requests ------------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        if self.closed:
            raise UpstreamConnectionError(self.pool.origin, "connection closed")
        self.response = Response(self)
        self.raw_headers = []
        self.headers_done = False
        self.head = self.loop.create_future()
        self.last_read = self.loop.time()
        if self.timer is None and self.pool.read_timeout:
            # One timer per busy connection, not per request: it stays armed across
            # back-to-back requests (arming and cancelling one cost ~2% of a request) and
            # lapses at its first firing with nothing in flight.
            self.timer = self.loop.call_at(self.last_read + self.pool.read_timeout, self._check)
        self.transport.write(data)
        return self.head

    def _check(self) -> None:
        """The read timer: fires at most once per `read_timeout`; fails the request in
        flight after that long without a byte."""
        self.timer = None
        if self.response is None or self.closed:
            return  # idle: the next request arms it again
        due = self.last_read + self.pool.read_timeout
        if self.paused:  # we stopped reading (our client is slow), the upstream did not
            due = self.loop.time() + self.pool.read_timeout
        if self.loop.time() < due:
            self.timer = self.loop.call_at(due, self._check)
            return
        self._fail(UpstreamTimeout(f"{self.pool.origin}: no answer for {self.pool.read_timeout}s"))

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(UpstreamConnectionError(self.pool.origin, f"bad HTTP answer: {e}"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost does the rest

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.counted:
            self.counted = False
            self.pool._lost()
        resp = self.response
        if resp is None:
            return
        if self.headers_done and not self.delimited:
            # An answer without a length ends where the connection does.
            self._end(resp, None)
            return
        why = f"{type(exc).__name__}" if exc else "closed by the upstream"
        self._fail(UpstreamConnectionError(self.pool.origin, f"connection lost: {why}"))

    # --- httptools callbacks --------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.response
        assert resp is not None
        status = self.parser.get_status_code()
        if status < 200:  # 1xx (103 Early Hints, ...): the real answer follows
            self.raw_headers = []
            return
        resp.status = status
        self.headers_done = True
        headers = resp.headers
        for name, value in self.raw_headers:
            k = name.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        self.delimited = "content-length" in headers or "transfer-encoding" in headers
        enc = headers.get("content-encoding")
        if enc in ("gzip", "x-gzip"):
            resp._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            resp._decoder = zlib.decompressobj()
        head, self.head = self.head, None
        if head is not None and not head.done():
            head.set_result(resp)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        resp = self.response
        if resp is not None and self.headers_done:
            self._end(resp, None)
            if self.parser.should_keep_alive() and not self.closed:
                self.pool._put(self)
            else:
                self.abort()

    # --- endings ----------------------------------------------------------------------------------
    def _end(self, resp: Response, exc: BaseException | None) -> None:
        self.response = None  # the read timer stays: `_check` lapses when it sees this
        resp._conn = None
        if self.paused:
            self.resume()
        resp._finish(exc)

    def _fail(self, exc: BaseException) -> None:
        head, self.head = self.head, None
        resp = self.response
        self.abort()
        if head is not None and not head.done():
            head.set_exception(exc)
        if resp is not None:
            self._end(resp, exc)


class Pool:
    """Connections to one origin (scheme, host, port)."""

    def __init__(
        self,
        base_url: str,
        *,
        limit: int = 100,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 60.0,
        keepalive: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,  # default: default_tls()
    ) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.tls else 80)
        self.prefix = u.path.rstrip("/")  # base URL's path: requests' paths go under it
        self.origin = f"{u.scheme}://{u.netloc.rpartition('@')[2]}"
        host_header = u.netloc.rpartition("@")[2]
        if not host_header.isascii():  # an internationalised name goes out in its IDNA form
            host_header = host_header.encode("idna").decode("ascii")
        self._host = host_header
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout or 0.0
        self.keepalive = keepalive
        self.loop = asyncio.get_running_loop()
        self._ssl: ssl.SSLContext | None = None
        if self.tls:
            self._ssl = ssl_context or default_tls()
        self._idle: list[_Connection] = []
        self._open = 0  # connections counted against the limit (idle, busy, connecting)
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False

    async def request(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        """POST `body` to `path`; returns once the status and headers are in."""
        data = self._encode(path, headers, body)
        conn = await self._acquire()
        try:
            return await conn.send(data)
        except BaseException:
            conn.abort()  # failed or cancelled mid-request: the connection's state is unknown
            raise

    def _encode(self, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n"]
        for k, v in headers.items():
            if "\n" in v or "\r" in v or "\n" in k or "\r" in k:
                raise ValueError(f"header {k!r}: line breaks are not allowed in HTTP headers")
            lines.append(f"{k}: {v}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        return "".join(lines).encode("utf-8") + body

    async def _acquire(self) -> _Connection:
        now = self.loop.time()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since < self.keepalive:
                return conn
            conn.abort()  # idle too long: the server may close it any moment
        if self._closed:
            raise UpstreamConnectionError(self.origin, "client closed")
        if self._open >= self.limit:
            w: asyncio.Future[_Connection | None] = self.loop.create_future()
            self._waiters.append(w)
            try:
                handed = await w
            except BaseException:
                if w.done() and not w.cancelled():  # handed over as we were cancelled
                    given = w.result()
                    if given is not None:
                        self._put(given)
                    else:
                        self._open -= 1
                        self._wake_one()
                raise
            if handed is not None:
                return handed
            # None: a connection closed, its place in the limit is ours
        else:
            self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            raise UpstreamTimeout(f"{self.origin}: connect timed out") from None
        except OSError as e:
            raise UpstreamConnectionError(
                self.origin, f"cannot connect: {type(e).__name__}"
            ) from None
        if conn.closed:
            raise UpstreamConnectionError(self.origin, "closed as it connected")
        conn.counted = True
        return conn

    def _put(self, conn: _Connection) -> None:
        """An answer ended on a reusable connection."""
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        if self._closed:
            conn.abort()
            return
        conn.idle_since = self.loop.time()
        self._idle.append(conn)

    def _lost(self) -> None:
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                self._open += 1
                w.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.abort()
