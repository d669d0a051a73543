"""Vertex AI access tokens (providers/vertex/token.py) through real google-auth against a
loopback OAuth token endpoint that verifies the signed JWT assertion.

The token endpoint runs on the test's own event loop: a refresh made on the loop (blocking
it) would never get its answer, so every test here passing also shows the refresh runs in a
thread. Time is moved with the token source's clock, not by sleeping.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from aigw.providers.vertex.token import LAST_USE, MARGIN, AccessTokens
from aigw.types import GatewayError
from tests.mock_google import TokenServer


@pytest.fixture
async def token_server() -> Any:
    s = TokenServer()
    await s.start()
    yield s
    await s.stop()


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def source(server: TokenServer, tmp_path: Path, clock: Clock) -> AccessTokens:
    return AccessTokens("vx", str(server.service_account(tmp_path)), clock=clock)


async def test_token_is_fetched_once_and_cached(token_server: TokenServer, tmp_path: Path) -> None:
    tokens = source(token_server, tmp_path, Clock())
    first = await tokens.token()
    assert token_server.valid(first) and token_server.requests == 1
    assert await tokens.token() == first
    headers = await tokens.headers("https://x/v1/y", {}, b"{}")
    assert headers == {"Authorization": f"Bearer {first}"}
    assert token_server.requests == 1


async def test_concurrent_requests_share_one_refresh(
    token_server: TokenServer, tmp_path: Path
) -> None:
    tokens = source(token_server, tmp_path, Clock())
    got = await asyncio.gather(*(tokens.token() for _ in range(20)))
    assert len(set(got)) == 1 and token_server.requests == 1


async def test_refreshed_before_expiry_without_making_requests_wait(
    token_server: TokenServer, tmp_path: Path
) -> None:
    clock = Clock()
    tokens = source(token_server, tmp_path, clock)
    old = await tokens.token()
    # Inside the refresh margin, the old token is still good: it is returned at once while
    # the new one is fetched in the background.
    clock.offset = token_server.lifetime - MARGIN + 1
    assert await tokens.token() == old
    # At the last moment a token may be used, requests wait for the refresh in flight (the
    # same one: the token endpoint is asked once).
    clock.offset = token_server.lifetime - LAST_USE + 1
    new = await asyncio.gather(*(tokens.token() for _ in range(5)))
    assert len(set(new)) == 1 and new[0] != old and token_server.valid(new[0])
    assert token_server.requests == 2 and tokens.refreshes == 2


async def test_short_lived_tokens_are_replaced(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.lifetime = 400  # just past the margin: good for 100 s of the clock
    clock = Clock()
    tokens = source(token_server, tmp_path, clock)
    a = await tokens.token()
    clock.offset = 99
    assert await tokens.token() == a
    clock.offset = 380  # 20 s left: below LAST_USE, so not sent again
    b = await tokens.token()
    assert b != a and token_server.requests == 2


async def test_refresh_failure_is_a_clear_retryable_error(
    token_server: TokenServer, tmp_path: Path
) -> None:
    token_server.fail_next = 100  # (google-auth retries a 500 a few times by itself)
    tokens = source(token_server, tmp_path, Clock())
    with pytest.raises(GatewayError) as e:
        await tokens.token()
    token_server.fail_next = 0
    assert (e.value.status, e.value.code, e.value.retryable) == (502, "upstream_auth_failed", True)
    assert "internal_failure" not in e.value.message
    assert token_server.valid(await tokens.token())  # the next request tries again


async def test_a_key_the_endpoint_does_not_know_is_refused(
    token_server: TokenServer, tmp_path: Path
) -> None:
    path = token_server.service_account(tmp_path)
    token_server.public_keys.clear()  # the endpoint no longer trusts the key
    with pytest.raises(GatewayError) as e:
        await AccessTokens("vx", str(path)).token()
    assert e.value.code == "upstream_auth_failed"
    assert token_server.issued == {}


async def test_missing_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(GatewayError) as e:
        await AccessTokens("vx", str(tmp_path / "nope.json")).token()
    assert e.value.status == 502 and "nope.json" not in e.value.message
