"""Client connections: a header deadline, an idle keep-alive timeout, a cap per worker, and
errors from the HTTP parser in the OpenAI shape.

aiohttp arms one timer per connection (its keep-alive handle) when the connection opens and
again after each answer, and closes the connection when it fires while no complete request
has arrived. That one timer does all three jobs here, so a request on the fast path (headers
in one read) arms nothing new:

- a new connection gets `server.header_timeout` instead of the keep-alive time: it must send
  a complete request line and headers within it (nothing at all, or half a header, is closed);
- after an answer the timer is `server.idle_timeout` (aiohttp's `keepalive_timeout`);
- when the first bytes of a later request arrive but not all its headers, a second timer
  gives the rest `header_timeout` (the only case that arms anything per request).

Body reads have their own deadline (`server.read_timeout`, server/request.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from aigw.config import ServerConfig
from aigw.server.front import Front, HotRoutes
from aigw.server.middleware import new_request_id
from aigw.types import GatewayError

log = logging.getLogger("aigw")


class GuardedServer(Server):
    """aiohttp's connection factory: each connection starts on the lean front
    (server/front.py), which hands it to a `GuardedHandler` at its first request that is not
    a plain hot call; with `server.lean_front` off, every connection is a `GuardedHandler`.
    Limits and routes are set by the runner."""

    limits: ServerConfig = ServerConfig()
    routes: HotRoutes | None = None

    def __call__(self) -> asyncio.Protocol:  # type: ignore[override]  # a protocol factory
        if self.routes is not None:
            return Front(self, self.routes)
        return self.aiohttp_handler()

    def aiohttp_handler(self) -> GuardedHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedHandler(RequestHandler):
    __slots__ = ("_head_handle", "_refused")

    def connection_made(self, transport: Any) -> None:
        self._refused = False
        self._head_handle: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        server = self._manager
        assert isinstance(server, GuardedServer)
        cap = server.limits.max_connections
        if cap and len(server._connections) > cap:
            # Over the cap: answer 503 at once, end our side and read nothing more; the
            # client closes, or the header deadline does. (Closing at once would reset the
            # connection under the client's request and lose the answer.)
            self._refused = True
            err = GatewayError(
                503,
                "The gateway has too many open connections; retry shortly.",
                "api_error",
                "too_many_connections",
                retry_after=1,
            )
            body = err.to_json()
            transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            if transport.can_write_eof():
                transport.write_eof()
        self._arm(server.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._messages or self._request_in_progress or not data:
            if self._head_handle is not None and self._messages:  # the head is complete
                self._head_handle.cancel()
                self._head_handle = None
            return
        if self._head_handle is None:
            # Bytes of a request's head arrived between requests, not all of it yet.
            server = self._manager
            assert isinstance(server, GuardedServer)
            self._head_handle = self._loop.call_later(
                server.limits.header_timeout, self._head_expired
            )

    def _head_expired(self) -> None:
        self._head_handle = None
        waiter = self._waiter
        if not self._messages and waiter is not None and not waiter.done():
            self.force_close()  # still waiting for the rest of the head

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_handle is not None:
            self._head_handle.cancel()
            self._head_handle = None
        super().connection_lost(exc)

    def _arm(self, timeout: float) -> None:
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
        close_time = self._loop.time() + timeout
        self._next_keepalive_close_time = close_time
        self._keepalive_handle = self._loop.call_at(close_time, self._process_keepalive)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request the HTTP parser refused: OpenAI's error shape, and never the offending
        bytes (aiohttp's own text echoes them, an Authorization value included)."""
        if request.writer.output_size > 0:
            raise ConnectionError("answer already started")
        if isinstance(exc, LineTooLong):
            status, code = 431, "request_header_too_large"
            text = (
                f"The request line or a header is too long (limits: {self.max_line_size} "
                f"bytes for the request line, {self.max_field_size} per header)."
            )
        elif isinstance(exc, HttpProcessingError):
            status = exc.code if 400 <= exc.code < 500 else 400
            code, text = "invalid_http_request", "Malformed HTTP request."
        else:
            log.error("unhandled error", exc_info=exc)
            status, code, text = 500, "internal_error", "Internal error in the gateway."
        if status < 500:  # the exception's text may quote the offending line: log its kind
            log.info("refused a malformed HTTP request", extra={"status": status, "kind": code})
        err = GatewayError(status, text, "invalid_request_error" if status < 500 else "api_error")
        err.code = code
        resp = web.Response(
            status=status,
            body=err.to_json(),
            content_type="application/json",
            headers={"X-Request-ID": new_request_id(None)},
        )
        resp.force_close()
        return resp


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose connections are `GuardedHandler`s with the server's limits."""

    def __init__(self, app: web.Application, server: ServerConfig, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", server.idle_timeout)
        super().__init__(app, **kwargs)
        self._limits = server

    async def _make_server(self) -> Server:
        made = await super()._make_server()
        made.__class__ = GuardedServer  # same state; only the handler it makes differs
        assert isinstance(made, GuardedServer)
        made.limits = self._limits
        if self._limits.lean_front:
            assert isinstance(self.app, web.Application)
            made.routes = HotRoutes(self.app)
        return made
