"""The lean HTTP/1.1 front: the hot routes without aiohttp's server, and aiohttp for the rest.

aiohttp's server costs about 165k CPU instructions per request (`bench/hit_cost.py
--trivial server` against `--trivial raw`): a request object, a payload stream fed and read
back, a response prepared through four layers, a keep-alive timer re-armed per answer. For
an exact cache hit that is a third of the whole request. The front is an asyncio protocol
that takes every client connection and serves the plain form of a hot call itself:

- POST to /v1/chat/completions, /v1/embeddings, /v1/messages or /v1/responses, exactly (no
  query string);
- HTTP/1.1, the whole head (request line and headers) within 8190 bytes, parsed by httptools
  (llhttp, the parser aiohttp and the upstream client use too);
- a body by Content-Length within `server.max_body_bytes`; no Transfer-Encoding, Expect or
  Upgrade header; a Host header, no header name twice, at most 64 headers (what aiohttp's
  parser checks beyond llhttp is aiohttp's to judge).

It runs the same middleware and route handler aiohttp's router would, with `FrontRequest`
(the part of `web.Request` they read; the body is already whole) and writes the answer,
head and body, in one write; a stream goes out chunked through `FrontStream`.

The first request on a connection that is anything else (another route, a malformed or
oversized head, a chunked body, a body past the limit) is not the front's to judge: it hands
the connection, with every byte of that request, to aiohttp's handler (`GuardedHandler`),
which serves it and the rest of the connection exactly as before. The front adds no HTTP
behaviour of its own beyond the plain case; the odd and the hostile get aiohttp's answers.

Deadlines are those of `server/connections.py`, on one timer per connection that stays
armed across requests (re-armed only when it fires or a deadline comes earlier): a new
connection's head within `header_timeout`, an idle keep-alive connection closed after
`idle_timeout`, a body within `read_timeout` of its head (past it the route's read of the
body raises 408, answered in the route's shape as on aiohttp). A head that does not come whole in the bytes
at hand goes to aiohttp at once, whose parser reads it as it comes. A client that
disconnects cancels its request's handler (aiohttp's `handler_cancellation`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httptools
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from aigw.types import GatewayError

if TYPE_CHECKING:
    from aigw.server.connections import GuardedServer

log = logging.getLogger("aigw")

HOT_PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/responses")
MAX_HEAD = 8190  # aiohttp's limit on the request line: a longer head is aiohttp's to refuse
_MAX_HEADERS = 64  # more is aiohttp's to judge (it refuses past 128)
_PAUSE_AT = 256 * 1024  # bytes a client sends ahead of its answer before reading pauses
_WRITE_HIGH = 64 * 1024  # unsent answer bytes past which a write waits for the client

# Headers the front writes itself: from a response object they are dropped, not doubled.
_OWN = (hdrs.CONTENT_LENGTH, hdrs.TRANSFER_ENCODING, hdrs.CONNECTION, hdrs.DATE)
_OWN_FOLDED = frozenset(name.lower() for name in _OWN)

# Waiting for: what the connection's one deadline is about.
_HEAD, _BODY, _IDLE = "head", "body", "idle"


class _Whole:
    """`request.content` of a body already read whole."""

    @staticmethod
    def is_eof() -> bool:
        return True


class _Match:
    """`request.match_info` as the metrics read it: the route, and through it the resource."""

    __slots__ = ("route",)

    def __init__(self, route: Any) -> None:
        self.route = route


class FrontRequest(dict):  # type: ignore[type-arg]
    """What the middleware and the hot routes read of a request: a subset of `web.Request`,
    with the same item access for the values they attach (request id, context, framing)."""

    __slots__ = ("_body", "app", "front", "headers", "match_info", "method", "path", "transport")
    content = _Whole()

    def __init__(
        self,
        front: Front,
        path: str,
        headers: CIMultiDictProxy[str],
        match_info: _Match,
        body: bytes | None,
    ) -> None:
        self.front = front
        self.app = front.routes.app
        self.method = "POST"
        self.path = path
        self.headers = headers
        self.match_info = match_info
        self.transport = front.transport
        self._body = body

    async def read(self) -> bytes:
        if self._body is None:  # it did not come within server.read_timeout
            raise web.HTTPRequestTimeout()
        return self._body


class FrontStream:
    """A streamed answer (Server-Sent Events) on the front, as `web.StreamResponse` is used
    by server/writer.py: prepare, write per event, write_eof. Chunked transfer coding; a
    write past 64 KiB of unsent bytes waits for the client (the writer bounds that wait)."""

    def __init__(self, request: FrontRequest, status: int, headers: dict[str, str]) -> None:
        self.front = request.front
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers)
        self.prepared = False
        self.keep_alive: bool | None = None

    async def prepare(self, request: Any) -> None:
        head = response_head(self.status, reason_of(self.status), self.headers)
        self.front.transport_write(head + b"Transfer-Encoding: chunked\r\n\r\n")
        self.front.streaming = self.prepared = True

    async def write(self, data: bytes) -> None:
        if not data:  # an empty chunk would end the stream
            return
        self.front.transport_write(b"%x\r\n%b\r\n" % (len(data), data))
        if self.front.write_waiter is not None:
            await self.front.drained()

    async def write_eof(self) -> None:
        self.front.transport_write(b"0\r\n\r\n")


class FrontAnswer:
    """A whole answer on the front, as server/writer.py makes it in place of `web.Response`:
    status, body and headers (a plain dict), none of aiohttp's response machinery (a
    `web.Response` with a hit's nine headers took ~2.3 us to build in a loop)."""

    __slots__ = ("body", "headers", "status")
    prepared = False  # read by the middleware, as of a web.Response
    keep_alive = None

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def reason(self) -> str:
        return reason_of(self.status)


class Head:
    """A plain hot call's head, parsed: what serves it, and how long its body is."""

    __slots__ = ("handler", "headers", "keep_alive", "length", "match", "path", "size")

    def __init__(
        self,
        hot: tuple[Any, _Match],
        headers: CIMultiDictProxy[str],
        path: str,
        size: int,
        length: int,
        keep_alive: bool,
    ) -> None:
        self.handler, self.match = hot
        self.headers = headers
        self.path = path
        self.size = size  # of the head, in bytes
        self.length = length  # of the body (Content-Length)
        self.keep_alive = keep_alive


class HotRoutes:
    """The app's hot routes: path -> (its POST handler wrapped in the app's middlewares, the
    match info the metrics label it by). Read from the router, so the front runs exactly
    what aiohttp would."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.table: dict[bytes, tuple[Any, _Match]] = {}
        for resource in app.router.resources():
            if resource.canonical not in HOT_PATHS:
                continue
            for route in resource:
                if route.method == "POST":
                    handler = route.handler
                    for mw in reversed(app.middlewares):
                        handler = functools.partial(mw, handler=handler)
                    self.table[resource.canonical.encode()] = (handler, _Match(route))


class Front(asyncio.Protocol):
    """One client connection, served by the front until it hands it to aiohttp."""

    def __init__(self, server: GuardedServer, routes: HotRoutes) -> None:
        self.server = server
        self.routes = routes
        self.loop = server._loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.parser = httptools.HttpRequestParser(self)  # fed each head, then its body
        self.url = b""
        self.raw_headers: list[tuple[str, str]] = []
        self.head_done = False
        self.message_done = False
        self.pending: Head | None = None  # a parsed head waiting for its body
        self.task: asyncio.Task[None] | None = None  # the request being answered
        self.streaming = False  # its answer is a stream, begun
        self.closing = False  # answer the request in hand, then close (shutdown)
        self.paused = False  # reading paused: the client sends ahead of its answers
        self.write_waiter: asyncio.Future[None] | None = None
        self.waiting: str | None = _HEAD  # what the deadline is about; None while answering
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    # -- httptools callbacks (the head only; the body is framed by its Content-Length) --

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # as aiohttp's parser takes it: trailing whitespace off the value (llhttp strips the
        # leading), decoded the same way
        self.raw_headers.append(
            (
                name.decode("utf-8", "surrogateescape"),
                value.rstrip(b" \t").decode("utf-8", "surrogateescape"),
            )
        )

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_message_complete(self) -> None:
        self.message_done = True

    # -- asyncio.Protocol --

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        server = self.server
        server._connections[self] = transport  # type: ignore[index]
        cap = server.limits.max_connections
        if cap and len(server._connections) > cap:
            self.handover()  # aiohttp's handler answers 503 (server/connections.py)
            return
        transport.set_write_buffer_limits(high=_WRITE_HIGH)
        self.wait(server.limits.header_timeout, _HEAD)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.task is None:
            self.next()
        elif len(self.buf) > _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.server._connections.pop(self, None)  # type: ignore[call-overload]
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None:
            self.task.cancel()  # the client is gone: so is the work for its answer
        self.transport = None
        self.resume_writing()  # a write waiting for the client fails (`drained`)

    def pause_writing(self) -> None:
        if self.write_waiter is None:
            self.write_waiter = self.loop.create_future()

    def resume_writing(self) -> None:
        waiter, self.write_waiter = self.write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- requests --

    def next(self) -> None:
        """Serve the next request in the buffer, if all of it is there."""
        buf = self.buf
        if self.pending is None:
            if not buf or self.transport is None:
                return
            end = buf.find(b"\r\n\r\n", 0, MAX_HEAD)
            if end < 0:
                # Half a head (rare: a head is one segment), one in another framing, or
                # not HTTP at all: aiohttp's parser reads it as it comes.
                self.handover()
                return
            self.pending = self.parse_head(bytes(buf[: end + 4]))
            if self.pending is None:
                self.handover()
                return
        head = self.pending
        total = head.size + head.length
        if len(buf) < total:
            if self.waiting != _BODY:
                self.wait(self.server.limits.read_timeout, _BODY)
            return
        body = bytes(buf[head.size : total])
        if head.length:
            try:
                self.parser.feed_data(body)  # opaque to llhttp: it must end where ours does
            except httptools.HttpParserError:
                self.message_done = False
        if not self.message_done:
            self.handover()
            return
        del buf[:total]
        self.start(body, head.keep_alive)

    def start(self, body: bytes | None, keep_alive: bool) -> None:
        """Answer the pending request (`body` None: its body did not come in time)."""
        head = self.pending
        assert head is not None
        self.pending = None
        self.waiting = None
        req = FrontRequest(self, head.path, head.headers, head.match, body)
        self.task = self.loop.create_task(self.serve(head.handler, req, keep_alive))

    def parse_head(self, head: bytes) -> Head | None:
        """The hot route, headers and framing of a plain hot call's head; None for anything
        else (aiohttp's to serve or refuse)."""
        self.url = b""
        self.raw_headers = []
        self.head_done = self.message_done = False
        parser = self.parser
        try:
            parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        if not self.head_done or parser.get_method() != b"POST":
            return None
        if parser.get_http_version() != "1.1":
            return None
        hot = self.routes.table.get(self.url)
        if hot is None:
            return None
        raw = self.raw_headers
        if len(raw) > _MAX_HEADERS or len({name.lower() for name, _ in raw}) != len(raw):
            return None  # aiohttp refuses a repeated Host, Content-Type...: it judges repeats
        headers = CIMultiDict(raw)
        if hdrs.HOST not in headers:
            return None  # HTTP/1.1 requires it: aiohttp answers 400
        if hdrs.TRANSFER_ENCODING in headers or hdrs.EXPECT in headers or hdrs.UPGRADE in headers:
            return None
        if hdrs.SEC_WEBSOCKET_KEY1 in headers:
            return None
        length = int(headers.get(hdrs.CONTENT_LENGTH, 0))  # llhttp took it: digits, one value
        if length > self.server.limits.max_body_bytes or self.message_done != (length == 0):
            return None
        return Head(
            hot,
            CIMultiDictProxy(headers),
            self.url.decode("ascii", "surrogateescape"),
            len(head),
            length,
            parser.should_keep_alive(),
        )

    async def serve(self, handler: Any, request: FrontRequest, keep_alive: bool) -> None:
        self.streaming = False
        try:
            resp = await handler(request)  # the middleware turns every error into an answer
            if self.streaming:  # a stream went out: an answer after it could only corrupt it
                keep_alive = keep_alive and isinstance(resp, FrontStream)
            else:
                self.transport_write(self.answer(resp, keep_alive))
                if self.write_waiter is not None:  # a large answer to a slow reader
                    async with asyncio.timeout(self.server.limits.write_timeout):
                        await self.drained()
            keep_alive = keep_alive and resp.keep_alive is not False
        except (asyncio.CancelledError, ConnectionResetError):
            keep_alive = False
        except TimeoutError:  # the client stopped reading its answer
            if self.transport is not None:
                self.transport.abort()
            keep_alive = False
        except Exception:
            log.exception("unhandled error on the front")
            if self.transport is not None and not self.streaming:
                self.transport.write(_INTERNAL_ERROR)
            keep_alive = False
        self.task = None
        transport = self.transport
        if transport is None:
            return
        if not keep_alive or self.closing:
            transport.close()
            return
        self.wait(self.server.limits.idle_timeout, _IDLE)
        if self.paused:
            self.paused = False
            transport.resume_reading()
        if self.buf:
            self.next()

    def answer(self, resp: web.StreamResponse | FrontAnswer, keep_alive: bool) -> bytes:
        """A whole answer in HTTP/1.1: status line, headers, body."""
        body = resp.body if isinstance(resp, FrontAnswer | web.Response) else None
        if not isinstance(body, bytes):  # the hot routes answer bytes; anything else is a bug
            raise TypeError(f"the front writes bytes bodies, not {type(body).__name__}")
        head = response_head(resp.status, resp.reason, resp.headers)
        if not keep_alive or resp.keep_alive is False or self.closing:
            head += b"Connection: close\r\n"
        return b"%bContent-Length: %d\r\n\r\n%b" % (head, len(body), body)

    def transport_write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client disconnected")
        transport.write(data)

    async def drained(self) -> None:
        waiter = self.write_waiter
        if waiter is not None:
            await asyncio.shield(waiter)
        if self.transport is None:
            raise ConnectionResetError("client disconnected")

    # -- deadlines --

    def wait(self, seconds: float, what: str) -> None:
        """From now the connection waits for the client's `what`, at most `seconds`."""
        self.waiting = what
        self.deadline = deadline = self.loop.time() + seconds
        if self.timer is None or deadline < self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(deadline, self.check)
            self.timer_at = deadline

    def check(self) -> None:
        self.timer = None
        if self.waiting is None or self.transport is None:
            return  # answering: the timer lapses, and is armed again after the answer
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self.check)
            self.timer_at = self.deadline
        elif self.waiting == _BODY:
            self.start(None, keep_alive=False)  # the route's read of it raises 408
        else:
            self.transport.close()  # no request, or half a head, in time

    # -- handing over, shutting down --

    def handover(self) -> None:
        """aiohttp serves this connection from here, starting with the bytes in hand."""
        transport = self.transport
        if transport is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server._connections.pop(self, None)  # type: ignore[call-overload]
        self.transport = None
        handler = self.server.aiohttp_handler()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self.paused:
            transport.resume_reading()
        data, self.buf = bytes(self.buf), bytearray()
        if data:
            handler.data_received(data)

    def close(self) -> None:
        """Shutting down (aiohttp's `Server.pre_shutdown`): an idle connection closes now,
        a busy one after its answer."""
        self.closing = True
        if self.task is None and self.transport is not None:
            self.transport.close()

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """aiohttp's `Server.shutdown`: the request in hand may finish within `timeout`."""
        self.closing = True
        task = self.task
        if task is not None:
            _, running = await asyncio.wait({task}, timeout=timeout)
            if running:
                task.cancel()
                await asyncio.wait({task}, timeout=timeout)
        if self.transport is not None:
            self.transport.close()


def response_head(status: int, reason: str, headers: Any) -> bytes:
    """Status line and headers, without the blank line that ends them. A header carrying a
    line break (which would split the answer in two) is refused."""
    # names as written (a FrontAnswer's plain dict) or folded (a response's multidict)
    if not _OWN_FOLDED.isdisjoint(map(str.lower, headers)):
        headers = CIMultiDict(headers)
        for name in _OWN:
            headers.popall(name, None)
    lines = list(map(": ".join, headers.items()))  # 2x f-strings, with `istr` names
    if hdrs.CONTENT_TYPE not in headers:
        lines.append("Content-Type: application/octet-stream")
    text = "\r\n".join(lines)
    if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
        raise ValueError("a response header carries a line break")
    return b"HTTP/1.1 %d %b\r\nDate: %b\r\n%b\r\n" % (
        status,
        reason.encode("latin-1", "replace"),
        http_date(),
        text.encode("utf-8"),
    )


def reason_of(status: int) -> str:
    """The status line's phrase; none for a code HTTP does not name (e.g. an upstream's 529),
    as aiohttp writes it."""
    return _PHRASES.get(status, "")


# A dict, not HTTPStatus(status) per answer: the enum's call costs ~0.8 us, 0.5% of a hit.
_PHRASES = {s.value: s.phrase for s in HTTPStatus}


_date = [0, b""]  # the Date header of the current second


def http_date() -> bytes:
    second = int(time.time())
    if second != _date[0]:
        _date[:] = [second, formatdate(second, usegmt=True).encode()]
    return _date[1]  # type: ignore[return-value]


_ERROR_BODY = GatewayError(500, "Internal error in the gateway.", "api_error", "internal_error")
_INTERNAL_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%b"
    % (len(_ERROR_BODY.to_json()), _ERROR_BODY.to_json())
)
