"""Fuzz every POST endpoint of a running gateway (issue 13, item 7): hypothesis-made JSON
bodies, arbitrary values and valid bodies with one field replaced by an arbitrary value, must
never get a 5xx or traceback text.

The gateway runs on a real socket (its own event loop in a thread) in front of the mock
OpenAI upstream, with auth on and the admin key set. `make test` runs a short pass
(AIGW_FUZZ_EXAMPLES, default 60 per endpoint and kind); `make fuzz` a long one.

A new endpoint is one line in ENDPOINTS: its path and a valid body (plus, if you like, the
names of optional fields worth setting to odd values).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigw import config as configmod
from aigw.bench.mock_upstream import MockOpenAI
from aigw.server.app import create_app
from aigw.server.connections import GatewayRunner
from tests.conftest import mock_config

ADMIN_KEY = "adm-fuzz-0123456789abcdef"
MSGS = [{"role": "user", "content": "hello"}]


@dataclass(frozen=True)
class Endpoint:
    path: str
    valid: dict[str, Any]
    fields: tuple[str, ...] = ()  # optional fields worth fuzzing besides the valid body's own
    admin: bool = False  # send the admin key instead of the client key

    def __str__(self) -> str:
        return self.path


ENDPOINTS = [
    Endpoint(
        "/v1/chat/completions",
        {"model": "gpt-test", "messages": MSGS},
        (
            "stream",
            "stream_options",
            "max_tokens",
            "max_completion_tokens",
            "n",
            "tools",
            "tool_choice",
            "temperature",
            "response_format",
            "user",
            "metadata",
            "stop",
            "seed",
        ),
    ),
    Endpoint(
        "/v1/embeddings",
        {"model": "embed-test", "input": "hello"},
        ("encoding_format", "dimensions", "user"),
    ),
    Endpoint(
        "/v1/messages",
        {"model": "gpt-test", "max_tokens": 16, "messages": MSGS},
        (
            "stream",
            "system",
            "stop_sequences",
            "tools",
            "tool_choice",
            "temperature",
            "metadata",
            "thinking",
            "top_k",
        ),
    ),
    Endpoint(
        "/v1/messages/count_tokens", {"model": "gpt-test", "messages": MSGS}, ("system", "tools")
    ),
    Endpoint(
        "/v1/admin/api-keys",
        {"org": "acme", "name": "fuzz", "scopes": ["chat"], "limits": {"requests_per_minute": 5}},
        ("user", "models", "budget", "priority", "expires_in", "may_set_priority", "cache_enabled"),
        admin=True,
    ),
    Endpoint("/v1/admin/api-keys/key_nonexistent/rotate", {"grace": "1h"}, admin=True),
]

EXAMPLES = int(os.environ.get("AIGW_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    # the short pass in `make test` tries the same examples every run; `make fuzz` new ones
    derandomize="AIGW_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "Error handling request")

# --- bodies ----------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0])
    | st.text(max_size=40)
    | st.sampled_from(["", "gpt-test", "mock/x", "user", "assistant", "chat", "1e309", "auto"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["role", "content", "type", "text", "source"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def paths(v: Any, prefix: tuple[Any, ...] = (), depth: int = 3) -> Iterator[tuple[Any, ...]]:
    """Every place in a valid body a value could be replaced at, down to `depth` levels."""
    if depth == 0:
        return
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
    for k, child in items:
        yield (*prefix, k)
        yield from paths(child, (*prefix, k), depth - 1)


def replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return body


@st.composite
def bodies(draw: st.DrawFn, ep: Endpoint) -> Any:
    kind = draw(st.sampled_from(["arbitrary", "one-field", "optional-field"]))
    if kind == "arbitrary":
        return draw(values)
    if kind == "one-field":
        path = draw(st.sampled_from(list(paths(ep.valid))))
        return replaced(ep.valid, path, draw(values))
    name = draw(st.sampled_from(ep.fields or tuple(ep.valid)))
    return {**ep.valid, name: draw(values)}


# --- the running gateway -----------------------------------------------------------------------


@dataclass
class LiveGateway:
    """The gateway and the mock upstream on one event loop in a thread, so the synchronous
    hypothesis test can call them over real sockets."""

    tmp: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    port: int = 0

    def start(self) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    async def _start(self) -> None:
        self.mock = MockOpenAI(quiet_calls=True)
        await self.mock.start()
        cfg = mock_config(self.mock.url, auth={"required": True}, data_dir=str(self.tmp / "data"))
        config = configmod.from_dict(cfg)
        self.runner = GatewayRunner(create_app(config), config.server, access_log=None)
        await self.runner.setup()
        from aiohttp import web

        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def _stop() -> None:
            await self.runner.cleanup()
            await self.mock.stop()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveGateway, str]]:
    old = os.environ.get("AIGW_ADMIN_KEY")
    os.environ["AIGW_ADMIN_KEY"] = ADMIN_KEY
    g = LiveGateway(tmp_path_factory.mktemp("fuzz"))
    try:
        g.start()
        client_key = _create_client_key(g.port)
        yield g, client_key
        g.stop()
    finally:
        if old is None:
            os.environ.pop("AIGW_ADMIN_KEY", None)
        else:
            os.environ["AIGW_ADMIN_KEY"] = old


def _post(port: int, path: str, raw: bytes, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=raw,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _create_client_key(port: int) -> str:
    status, raw = _post(port, "/v1/admin/api-keys", json.dumps({"org": "acme"}).encode(), ADMIN_KEY)
    assert status == 201, raw
    return str(json.loads(raw)["key"])


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ep", ENDPOINTS, ids=str)
def test_fuzzed_bodies_never_get_a_5xx(live: tuple[LiveGateway, str], ep: Endpoint) -> None:
    g, client_key = live
    token = ADMIN_KEY if ep.admin else client_key
    status, raw = _post(g.port, ep.path, json.dumps(ep.valid).encode(), token)
    assert status < 300 or ep.path.endswith("/rotate"), (status, raw)  # the valid body works

    @FUZZ
    @given(body=bodies(ep))
    def check(body: Any) -> None:
        raw_body = json.dumps(body).encode()  # big ints and 1e308 as JSON allows them
        status, raw = _post(g.port, ep.path, raw_body, token)
        text = raw.decode("utf-8", "replace")
        assert status < 500, f"{ep.path} {status} for {raw_body[:300]!r}: {text[:300]}"
        for mark in TRACEBACK_MARKS:
            assert mark not in text, f"{ep.path}: traceback text for {raw_body[:300]!r}"

    check()
