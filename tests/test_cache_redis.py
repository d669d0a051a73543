"""The shared cache: gateway instances on one real Redis serve each other's answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.tcpproxy import TcpProxy

Q = "How do I convert 5 km to miles?"
PARA = "how do i convert 5 km to miles"


def redis_cache(mock: MockOpenAI, url: str, prefix: str, **kw: Any) -> dict[str, Any]:
    return mock_config(
        mock.url, cache={"enabled": True, "redis_url": url, "redis_prefix": prefix, **kw}
    )


async def ask(g: Any, text: str, stream: bool = False) -> tuple[str, str]:
    r = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=[{"role": "user", "content": text}],
        temperature=0,
        stream=stream,
    )
    if stream:
        parts = []
        async for c in r.parse():
            parts += [ch.delta.content or "" for ch in c.choices]
        return r.headers["x-aigw-cache"], "".join(parts)
    return r.headers["x-aigw-cache"], r.parse().choices[0].message.content or ""


async def until(pred: Any, timeout: float = 5.0) -> None:
    """Wait for another instance's follower (a background task reading Redis)."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_two_instances_share_exact_and_semantic_entries(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    a = await start_gateway(redis_cache(mock, redis_url, redis_prefix))
    b = await start_gateway(redis_cache(mock, redis_url, redis_prefix))
    state, text = await ask(a, Q, stream=True)
    assert state == "miss" and mock.count == 1
    # Stored after the answer reached the client (on_finish): wait until it is in Redis.
    await until(lambda: len(b.gateway.cache.semantic.index) == 1)
    state, text_b = await ask(b, Q)  # a streamed answer, served as JSON by the other instance
    assert state == "hit" and text_b == text and mock.count == 1
    state, text_b = await ask(b, PARA, stream=True)
    assert state == "semantic" and text_b == text and mock.count == 1
    # And the other way round.
    await ask(b, "What is the capital of France?")
    assert mock.count == 2
    await until(lambda: len(a.gateway.cache.semantic.index) == 2)
    assert (await ask(a, "What's the capital of France?"))[0] == "semantic"
    assert mock.count == 2


async def test_index_is_rebuilt_from_redis_at_start_up(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    a = await start_gateway(redis_cache(mock, redis_url, redis_prefix))
    await ask(a, Q)
    await ask(a, "What is the capital of France?")
    await until(lambda: len(a.gateway.cache.semantic.index) == 2)
    # A new instance, started after the entries were written, replays the log at start-up.
    c = await start_gateway(redis_cache(mock, redis_url, redis_prefix))
    assert len(c.gateway.cache.semantic.index) == 2
    assert (await ask(c, PARA))[0] == "semantic"
    assert mock.count == 2


async def test_other_prefix_is_another_cache(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    a = await start_gateway(redis_cache(mock, redis_url, redis_prefix))
    b = await start_gateway(redis_cache(mock, redis_url, redis_prefix + "other:"))
    await ask(a, Q)
    await until(lambda: len(a.gateway.cache.semantic.index) == 1)
    assert (await ask(b, Q))[0] == "miss"
    assert mock.count == 2


async def test_redis_outage_turns_the_cache_into_misses(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    try:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        g = await start_gateway(redis_cache(mock, url, redis_prefix, redis_timeout="200ms"))
        await ask(g, Q)
        await until(lambda: len(g.gateway.cache.semantic.index) == 1)
        assert (await ask(g, Q))[0] == "hit"
        proxy.cut()
        state, text = await ask(g, Q)  # Redis gone: answered by upstream, not an error
        assert state == "miss" and text == mock.text and mock.count == 2
        proxy.restore()
        state, _ = await ask(g, Q)
        assert state == "hit" and mock.count == 2
    finally:
        await proxy.stop()


async def test_two_processes_share_the_cache(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str, tmp_path: Any
) -> None:
    """A real `aigw serve` process and an in-test gateway on one Redis."""
    import openai

    from tests.procs import ServeProcess

    cfg = redis_cache(mock, redis_url, redis_prefix)
    srv = ServeProcess(cfg, tmp_path / "proc")
    try:
        await srv.ready()
        other = await start_gateway(cfg)
        proc_client = openai.AsyncOpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)

        class Proc:  # the same `ask` helper against the process
            def openai(self) -> openai.AsyncOpenAI:
                return proc_client

        state, text = await ask(Proc(), Q, stream=True)
        assert state == "miss" and mock.count == 1
        await until(lambda: len(other.gateway.cache.semantic.index) == 1, timeout=10)
        assert await ask(other, Q) == ("hit", text)
        assert await ask(other, PARA) == ("semantic", text)
        # And back: cached by the in-test gateway, served by the process.
        await ask(other, "What is the capital of France?")
        assert mock.count == 2
        state, _ = await ask(Proc(), "What is the capital of France?")
        assert state == "hit" and mock.count == 2
        await proc_client.close()
    finally:
        await srv.stop()
