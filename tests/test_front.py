"""The lean HTTP/1.1 front (server/front.py): plain hot calls served by it, everything else
handed to aiohttp with the connection, and the same answers either way.

The whole suite runs through the front (the fixtures use `GatewayRunner`); these tests
speak raw HTTP on sockets to check what only the front does: keep-alive and pipelining on
its own, the hand-over mid-connection, its deadlines, and, against a gateway with
`server.lean_front` off, the same status for the same bytes (hostile ones included).
aiohttp names itself in a `Server` header; the front writes none, which tells them apart.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import httptools
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from aigw.server.front import FrontAnswer, reason_of, response_head
from tests.conftest import mock_config
from tests.procs import ServeProcess

CHAT = orjson.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}]})
STREAM = orjson.dumps(
    {"model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
)


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST %b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%b"
        b"Content-Length: %d\r\n\r\n%b" % (path.encode(), extra, len(body), body)
    )


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.names: list[str] = []  # in order, repeats kept
        self.body = b""
        self.chunked = False


class Answers:
    """HTTP/1.1 answers read off a socket, in order, by httptools."""

    def __init__(self) -> None:
        self.done: list[Answer] = []
        self.current = Answer()
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.names.append(name.decode().lower())
        self.current.headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.current.status = self.parser.get_status_code()

    def on_chunk_header(self) -> None:
        self.current.chunked = True

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.done.append(self.current)
        self.current = Answer()


async def exchange(
    url: str, data: bytes, answers: int, timeout: float = 5.0
) -> tuple[list[Answer], bool]:
    """Send `data`, read until `answers` answers came or the server closed; and whether it
    closed (within `timeout`, which bounds the whole exchange)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    got = Answers()
    closed = False
    try:
        writer.write(data)
        async with asyncio.timeout(timeout):  # past it: the answers so far, not closed
            while len(got.done) < answers:
                chunk = await reader.read(65536)
                if not chunk:
                    closed = True
                    break
                try:
                    got.parser.feed_data(chunk)
                except httptools.HttpParserError:
                    break
            if not closed and answers == 0:
                closed = await reader.read(1) == b""
    except TimeoutError:
        pass
    finally:
        writer.close()
    return got.done, closed


def from_front(a: Answer) -> bool:
    return "server" not in a.headers


async def test_hot_calls_are_the_fronts_until_another_route_takes_the_connection(
    gw: Any,
) -> None:
    data = post("/v1/chat/completions", CHAT) * 2 + post(
        "/v1/embeddings", b'{"model":"embed-test","input":"a"}'
    )
    data += b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post("/v1/chat/completions", CHAT)
    got, _ = await exchange(gw.url, data, 5)  # pipelined: all of it in one write
    assert [a.status for a in got] == [200, 200, 200, 200, 200]
    assert [from_front(a) for a in got] == [True, True, True, False, False]
    first = got[0]
    assert orjson.loads(first.body)["object"] == "chat.completion"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-request-id"].startswith("req_")
    assert int(first.headers["content-length"]) == len(first.body)
    assert "date" in first.headers
    for a in got:  # aiohttp's answers and the front's alike: no header twice
        assert len(a.names) == len(set(a.names)), a.names
    assert orjson.loads(got[2].body)["object"] == "list"
    assert got[4].headers["x-request-id"] != first.headers["x-request-id"]


async def test_a_stream_goes_out_chunked_from_the_front(gw: Any) -> None:
    got, _ = await exchange(gw.url, post("/v1/chat/completions", STREAM), 1)
    (a,) = got
    assert a.status == 200 and from_front(a) and a.chunked
    assert a.headers["content-type"].startswith("text/event-stream")
    events = [e for e in a.body.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    assert orjson.loads(events[0].removeprefix(b"data: "))["object"] == "chat.completion.chunk"


async def test_responses_and_their_events_come_from_the_front(gw: Any) -> None:
    body = {"model": "gpt-test", "input": "Hi"}
    data = post("/v1/responses", orjson.dumps(body))
    data += post("/v1/responses", orjson.dumps({**body, "stream": True}))
    got, _ = await exchange(gw.url, data, 2)
    assert [(a.status, from_front(a)) for a in got] == [(200, True), (200, True)]
    assert orjson.loads(got[0].body)["object"] == "response"
    assert got[1].chunked and b"event: response.completed" in got[1].body


async def test_anthropic_messages_and_errors_keep_their_shape(gw: Any) -> None:
    bad = post("/v1/messages", b'{"model": "gpt-test"}', b"anthropic-version: 2023-06-01\r\n")
    got, _ = await exchange(gw.url, bad + post("/v1/chat/completions", b"{nope"), 2)
    assert [(a.status, from_front(a)) for a in got] == [(400, True), (400, True)]
    assert orjson.loads(got[0].body)["type"] == "error"  # Anthropic's error shape
    assert orjson.loads(got[1].body)["error"]["code"] == "invalid_json"  # OpenAI's


async def test_connection_close_is_honoured(gw: Any) -> None:
    got, closed = await exchange(
        gw.url, post("/v1/chat/completions", CHAT, b"Connection: close\r\n"), 2
    )
    assert [a.status for a in got] == [200] and closed
    assert got[0].headers["connection"] == "close"


async def test_a_body_in_pieces_is_awaited(gw: Any) -> None:
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    data = post("/v1/chat/completions", CHAT)
    got = Answers()
    writer.write(data[: data.index(b"\r\n\r\n") + 4])  # the head in one piece
    for i in range(data.index(b"\r\n\r\n") + 4, len(data), 7):  # the body in seven-byte ones
        writer.write(data[i : i + 7])
        await writer.drain()
    async with asyncio.timeout(5):
        while not got.done:
            got.parser.feed_data(await reader.read(65536))
    writer.close()
    assert got.done[0].status == 200 and from_front(got.done[0])


@pytest.fixture
async def twins(mock: Any, start_gateway: Any) -> tuple[Any, Any]:
    """Two gateways on one upstream, the lean front on and off, with short deadlines."""
    server = {"header_timeout": 0.3, "read_timeout": 0.3, "idle_timeout": 0.3}
    front = await start_gateway(mock_config(mock.url, server={**server, "lean_front": True}))
    plain = await start_gateway(mock_config(mock.url, server={**server, "lean_front": False}))
    return front, plain


HOSTILE = [
    # (what, bytes): each must get the same statuses from both gateways.
    (
        "chunked body",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n"
        % (len(CHAT), CHAT),
    ),
    (
        "length and chunked",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "two lengths",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: 3\r\n\r\n%b"
        % (len(CHAT), CHAT),
    ),
    (
        "length not a number",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n" + CHAT,
    ),
    (
        "length short",
        post("/v1/chat/completions", CHAT).replace(b"Length: %d" % len(CHAT), b"Length: 5"),
    ),
    ("no length", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("head too long", post("/v1/chat/completions", CHAT, b"X-Pad: " + b"a" * 9000 + b"\r\n")),
    (
        "header too long for aiohttp",
        post("/v1/chat/completions", CHAT, b"X-Pad: " + b"a" * 20000 + b"\r\n"),
    ),
    (
        "body too large",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}",
    ),
    ("HTTP/1.0", post("/v1/chat/completions", CHAT).replace(b"HTTP/1.1", b"HTTP/1.0")),
    ("expect continue", post("/v1/chat/completions", CHAT, b"Expect: 100-continue\r\n")),
    ("query string", post("/v1/chat/completions?x=1", CHAT)),
    ("trailing slash", post("/v1/chat/completions/", CHAT)),
    ("GET on a hot path", b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("lower-case method", post("/v1/chat/completions", CHAT).replace(b"POST", b"post")),
    ("bare LF", post("/v1/chat/completions", CHAT).replace(b"\r\n", b"\n")),
    ("folded header", post("/v1/chat/completions", CHAT, b"X-A: 1\r\n  2\r\n")),
    ("space before colon", post("/v1/chat/completions", CHAT, b"X-A : 1\r\n")),
    ("NUL in a header", post("/v1/chat/completions", CHAT, b"X-A: \x001\r\n")),
    (
        "upgrade",
        post("/v1/chat/completions", CHAT, b"Connection: upgrade\r\nUpgrade: websocket\r\n"),
    ),
    ("gzip body", post("/v1/chat/completions", b"\x1f\x8b garbage", b"Content-Encoding: gzip\r\n")),
    (
        "smuggled second request",
        post("/v1/chat/completions", CHAT + b"GET /health HTTP/1.1\r\n\r\n"),
    ),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
    ("no Host", post("/v1/chat/completions", CHAT).replace(b"Host: x\r\n", b"")),
    ("two Hosts", post("/v1/chat/completions", CHAT, b"Host: y\r\n")),
    ("two Content-Types", post("/v1/chat/completions", CHAT, b"content-type: text/plain\r\n")),
    ("a repeated header", post("/v1/chat/completions", CHAT, b"X-A: 1\r\nx-a: 2\r\n")),
    (
        "many headers",
        post("/v1/chat/completions", CHAT, b"".join(b"X-%d: 1\r\n" % i for i in range(130))),
    ),
    ("old websocket key", post("/v1/chat/completions", CHAT, b"Sec-WebSocket-Key1: 1\r\n")),
    ("leading blank lines", b"\r\n\r\n" + post("/v1/chat/completions", CHAT)),
]


def agree(front: tuple[list[int], bool], plain: tuple[list[int], bool]) -> bool:
    """The same statuses, or: aiohttp refused the whole write with one 400 (its parser drops
    the complete requests before a malformed one that came in the same read), and the front
    answered those requests, then handed the rest to aiohttp, which refused it the same way
    (and closes: `exchange` may have stopped reading before it saw that). Or: after a 408
    the front closes at once (the rest of that body may still come and be read as the next
    request), where aiohttp keeps the connection to read it."""
    if front == plain:
        return True
    if front[0] == plain[0] and front[0][-1:] == [408] and front[1]:
        return True
    return plain == ([400], True) and front[0][-1:] == [400]


def through_first_close(data: bytes) -> bytes | None:
    """`data` up to the end of its first complete request that asks to close the connection
    (after which a server reads nothing more), or None when there is none."""
    closes: list[bool] = []

    class Callbacks:
        def on_message_complete(self) -> None:
            closes.append(not parser.should_keep_alive())

    parser = httptools.HttpRequestParser(Callbacks())
    for i in range(len(data)):  # a byte at a time: where each request ends
        try:
            parser.feed_data(data[i : i + 1])
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        if closes and closes[-1]:
            return data[: i + 1]
    return None


async def test_nothing_is_read_after_a_request_that_asked_to_close(
    twins: tuple[Any, Any],
) -> None:
    """The one request answered, the connection closed (RFC 9112, 9.6). aiohttp answers the
    same bytes with one 400 ("Data after `Connection: close`"), the whole read refused."""
    front, plain = twins
    first = post("/v1/chat/completions", CHAT, b"Connection: close\r\n")
    data = first + post("/v1/chat/completions", CHAT)
    assert through_first_close(data) == first
    got, closed = await exchange(front.url, data, 2)
    assert [a.status for a in got] == [200] and closed
    got, closed = await exchange(plain.url, first, 2)
    assert [a.status for a in got] == [200] and closed


@pytest.mark.parametrize("what,data", HOSTILE, ids=[w for w, _ in HOSTILE])
async def test_the_same_bytes_get_the_same_answers_with_the_front_off(
    twins: tuple[Any, Any], what: str, data: bytes
) -> None:
    front, plain = twins
    seen = []
    for g in twins:
        got, closed = await exchange(g.url, data, 3, timeout=3)
        seen.append(([a.status for a in got], closed))
    assert agree(*seen), (seen, what)
    del front, plain


EXAMPLES = int(os.environ.get("AIGW_FUZZ_EXAMPLES", "40"))
# What a cut inserts: random bytes, or a piece of HTTP's framing.
PIECES = st.binary(max_size=6) | st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b":",
        b" ",
        b"\t",
        b"\x00",
        b"0",
        b"9",
        b"Content-Length: 2\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Host: y\r\n",
        b"Connection: close\r\n",
        b"Expect: 100-continue\r\n",
        b"HTTP/1.0",
        b"GET",
        b"/v1/embeddings",
        b"?a=1",
        b"%2F",
    ]
)


@pytest.mark.timeout(120 + EXAMPLES // 5)  # ~0.1 s an example, and some to spare
@settings(  # AIGW_FUZZ_EXAMPLES: a longer, random run (`make fuzz` takes this file too)
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize="AIGW_FUZZ_EXAMPLES" not in os.environ,
)
@given(cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 8), PIECES), max_size=3))
async def test_mangled_requests_get_the_same_answers_with_the_front_off(
    twins: tuple[Any, Any], cuts: list[tuple[int, int, bytes]]
) -> None:
    data = bytearray(post("/v1/chat/completions", CHAT) + post("/v1/chat/completions", CHAT))
    for at, drop, insert in cuts:
        at = at % (len(data) + 1)
        data[at : at + drop] = insert
    seen = []
    for g in twins:
        got, closed = await exchange(g.url, bytes(data), 3, timeout=3)
        seen.append(([a.status for a in got], closed))
    if not agree(*seen):
        # aiohttp's parser refuses bytes that follow a request asking to close ("Data after
        # `Connection: close`") with one 400 for the whole read; the front answers up to that
        # request and closes, reading no further (RFC 9112, 9.6). Then aiohttp must give the
        # front's answers to the bytes up to there.
        cut = through_first_close(bytes(data))
        assert cut is not None and seen[1] == ([400], True), (seen, bytes(data))
        got, closed = await exchange(twins[1].url, cut, 3, timeout=3)
        assert agree(seen[0], ([a.status for a in got], closed)), (seen, bytes(data))
    # and each gateway still answers a clean call
    for g in twins:
        got, _ = await exchange(g.url, post("/v1/chat/completions", CHAT), 1)
        assert got[0].status == 200


async def test_a_new_connection_must_send_its_head_in_time(twins: tuple[Any, Any]) -> None:
    front, _ = twins
    t0 = time.monotonic()
    got, closed = await exchange(front.url, b"POST /v1/chat/comp", 1)
    assert got == [] and closed and time.monotonic() - t0 >= 0.25


async def test_an_idle_connection_is_closed(twins: tuple[Any, Any]) -> None:
    front, _ = twins
    host, port = front.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(post("/v1/chat/completions", CHAT))
    got = Answers()
    async with asyncio.timeout(5):
        while not got.done:
            got.parser.feed_data(await reader.read(65536))
        t0 = time.monotonic()
        assert await reader.read(1) == b""  # closed by the server
    assert time.monotonic() - t0 >= 0.25
    writer.close()


async def test_the_rest_of_a_later_head_must_come_in_time(twins: tuple[Any, Any]) -> None:
    front, _ = twins
    data = post("/v1/chat/completions", CHAT) + b"POST /v1/chat/"
    got, closed = await exchange(front.url, data, 2)
    assert [a.status for a in got] == [200] and closed


async def test_a_slow_body_gets_408_from_the_front_in_the_routes_shape(
    twins: tuple[Any, Any],
) -> None:
    front, _ = twins
    data = post("/v1/chat/completions", CHAT)[:-10]
    got, _ = await exchange(front.url, data, 1)
    assert [(a.status, from_front(a)) for a in got] == [(408, True)]
    assert orjson.loads(got[0].body)["error"]["type"] == "invalid_request_error"
    assert got[0].headers["connection"] == "close"
    data = post("/v1/messages", b'{"model": "gpt-test", "max_tokens": 5, "messages": []}')
    got, _ = await exchange(front.url, data[:-10], 1)
    assert [(a.status, from_front(a)) for a in got] == [(408, True)]
    assert orjson.loads(got[0].body)["type"] == "error"  # Anthropic's error shape


async def test_a_client_that_leaves_cancels_its_call(mock: Any, gw: Any) -> None:
    mock.hold = asyncio.Event()
    host, port = gw.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(post("/v1/chat/completions", CHAT))
    async with asyncio.timeout(5):
        while mock.active == 0:
            await asyncio.sleep(0.01)  # polling the mock's counter, bounded
        writer.close()
        while mock.active:
            await asyncio.sleep(0.01)  # the upstream call is dropped with the client
    mock.hold.set()


def test_a_header_with_a_line_break_is_refused() -> None:
    head = response_head(200, "OK", CIMultiDict({"X-A": "1", "content-length": "9"}))
    assert head.startswith(b"HTTP/1.1 200 OK\r\nDate: ")
    # the front writes its own framing headers; a response's are dropped, not doubled
    assert head.endswith(b"\r\nX-A: 1\r\nContent-Type: application/octet-stream\r\n")
    # a FrontAnswer's plain dict: the same, whatever the names' case
    head = response_head(200, "OK", {"X-A": "1", "content-LENGTH": "9", "date": "x"})
    assert head.count(b"Date: ") == 1 and b"LENGTH" not in head
    assert head.endswith(b"\r\nX-A: 1\r\nContent-Type: application/octet-stream\r\n")
    for bad in ("1\r\nSet-Cookie: a=b", "1\nX: y", "1\r"):
        with pytest.raises(ValueError):
            response_head(200, "OK", {"X-A": bad})


def test_a_status_http_does_not_name_gets_an_empty_phrase_as_on_aiohttp() -> None:
    assert FrontAnswer(529, b"", {}).reason == web.Response(status=529).reason == ""
    assert reason_of(429) == "Too Many Requests"
    assert response_head(529, reason_of(529), {}).startswith(b"HTTP/1.1 529 \r\nDate: ")


async def test_aigw_serve_hands_over_on_uvloop(mock: Any, tmp_path: Any) -> None:
    """`aigw serve` runs on uvloop: its transports must take the hand-over too."""
    srv = ServeProcess(mock_config(mock.url), tmp_path)
    try:
        await srv.ready()
        data = post("/v1/chat/completions", CHAT) + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        data += post("/v1/chat/completions", STREAM)
        got, _ = await exchange(srv.url, data, 3)
        assert [(a.status, from_front(a)) for a in got] == [(200, True), (200, False), (200, False)]
        got, _ = await exchange(srv.url, post("/v1/chat/completions", STREAM), 1)
        assert [(a.status, from_front(a), a.chunked) for a in got] == [(200, True, True)]
    finally:
        await srv.stop()


async def test_a_client_that_stops_reading_is_cut_off_after_the_write_timeout(
    mock: Any, start_gateway: Any
) -> None:
    """A large answer to a client that reads nothing waits `server.write_timeout` for it,
    then the connection is dropped: the answer is not held (nor the handler) for good."""
    g = await start_gateway(mock_config(mock.url, server={"write_timeout": 0.3}))
    # ~6 MB of answer: more than the kernel's socket buffers take (4 MB here).
    body = orjson.dumps({"model": "embed-test", "input": ["a"] * 10, "dimensions": 65536})
    host, port = g.url.removeprefix("http://").split(":")
    # A small read limit: the client's stream stops taking bytes off the socket at 8 KiB,
    # and a small receive window.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(post("/v1/embeddings", body) * 3)  # and two more behind it
    async with asyncio.timeout(5):
        while mock.count == 0:
            await asyncio.sleep(0.01)  # polling the mock's counter, bounded
        await asyncio.sleep(0.6)  # not reading, past the write timeout
        got = b""
        try:
            while chunk := await reader.read(2**20):
                got += chunk
        except ConnectionResetError:
            pass
    writer.close()
    length = int(got.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert len(got) < length  # cut off before the first answer was through
    assert mock.count == 1  # and the requests behind it were never run
    ok, _ = await exchange(g.url, post("/v1/chat/completions", CHAT), 1)
    assert ok[0].status == 200


async def test_shutdown_lets_the_answer_in_hand_finish_and_closes_idle_connections(
    mock: Any, gw: Any
) -> None:
    host, port = gw.url.removeprefix("http://").split(":")
    idle_r, idle_w = await asyncio.open_connection(host, int(port))
    idle_w.write(post("/v1/chat/completions", CHAT))
    idle = Answers()
    busy_r, busy_w = await asyncio.open_connection(host, int(port))
    busy = Answers()
    async with asyncio.timeout(5):
        while not idle.done:
            idle.parser.feed_data(await idle_r.read(65536))
        mock.hold = asyncio.Event()
        busy_w.write(post("/v1/chat/completions", CHAT))
        while mock.active == 0:
            await asyncio.sleep(0.01)  # polling the mock's counter, bounded
        stopping = asyncio.create_task(gw.runner.cleanup())
        assert await idle_r.read(1) == b""  # the idle connection is closed at once
        assert not stopping.done()  # while the busy one is still answering
        mock.hold.set()
        while not busy.done:
            busy.parser.feed_data(await busy_r.read(65536))
        assert await busy_r.read(1) == b""  # and closed after its answer
        await stopping
    assert busy.done[0].status == 200 and from_front(busy.done[0])
    assert busy.done[0].headers["connection"] == "close"
    idle_w.close()
    busy_w.close()


async def test_header_values_are_taken_as_aiohttp_takes_them(gw: Any) -> None:
    """Trailing spaces and tabs are not part of a value (RFC 9110; aiohttp strips them): a
    request id sent with them is still the client's own, echoed back."""
    data = post("/v1/chat/completions", CHAT, b"X-Request-ID: my-id-1 \t \r\n")
    got, _ = await exchange(gw.url, data, 1)
    assert [(a.status, from_front(a)) for a in got] == [(200, True)]
    assert got[0].headers["x-request-id"] == "my-id-1"
