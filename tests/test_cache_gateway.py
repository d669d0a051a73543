"""The cache in the gateway, end to end: the openai SDK in front, the mock upstream behind."""

from __future__ import annotations

from typing import Any

import pytest

from aigw.bench.mock_upstream import MockOpenAI
from aigw.pipeline import RequestContext, StreamResult, compose
from aigw.types import Principal
from tests.conftest import mock_config

Q = "How do I convert 5 km to miles?"


def cache_config(mock: MockOpenAI, **cache: Any) -> dict[str, Any]:
    return mock_config(mock.url, cache={"enabled": True, **cache})


def msgs(text: str, system: str = "You are terse.", earlier: list | None = None) -> list:
    return [
        {"role": "system", "content": system},
        *(earlier or []),
        {"role": "user", "content": text},
    ]


async def ask(
    g: Any, text: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[str, Any]:
    kw.setdefault("temperature", 0)
    kw.setdefault("messages", msgs(text))
    r = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test", extra_headers=headers or {}, **kw
    )
    return r.headers.get("x-aigw-cache"), r


async def stream_text(g: Any, text: str, **kw: Any) -> tuple[str, str, Any]:
    r = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test", messages=msgs(text), temperature=0, stream=True, **kw
    )
    out = []
    async for chunk in r.parse():
        for ch in chunk.choices:
            out.append(ch.delta.content or "")
    return r.headers.get("x-aigw-cache"), "".join(out), r


async def test_exact_hit_is_served_without_upstream(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    state, r1 = await ask(g, Q)
    assert state == "miss" and mock.count == 1
    state, r2 = await ask(g, Q)
    assert state == "hit" and mock.count == 1
    a, b = r1.parse(), r2.parse()
    assert a.choices[0].message.content == b.choices[0].message.content == mock.text
    assert b.usage.total_tokens == a.usage.total_tokens > 0
    # One keyed field changed: a miss that reaches the upstream.
    state, _ = await ask(g, Q, seed=1)
    assert state == "miss" and mock.count == 2


async def test_streamed_miss_then_streamed_hit(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    state, first, _ = await stream_text(g, Q)
    assert state == "miss" and mock.count == 1 and first == mock.text
    state, second, _ = await stream_text(g, Q)
    assert state == "hit" and second == first
    assert mock.count == 1  # the hit never reached the upstream
    # The cached stream also answers a non-streaming client, as one JSON completion...
    state, r = await ask(g, Q)
    assert state == "hit" and r.parse().choices[0].message.content == first
    assert r.parse().usage.completion_tokens > 0
    assert mock.count == 1


async def test_json_answer_replayed_as_a_stream(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    await ask(g, Q)
    usage_chunks = []
    r = await g.openai().chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=msgs(Q),
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = []
    async for c in r.parse():
        text += [ch.delta.content or "" for ch in c.choices]
        if c.usage:
            usage_chunks.append(c.usage)
    assert r.headers["x-aigw-cache"] == "hit" and "".join(text) == mock.text
    assert len(usage_chunks) == 1 and usage_chunks[0].completion_tokens > 0
    assert mock.count == 1


async def test_incomplete_stream_is_not_stored(mock: MockOpenAI, start_gateway: Any) -> None:
    from aigw.bench.mock_upstream import Fail

    g = await start_gateway(cache_config(mock))
    mock.fail(Fail(500, after_chunks=2))
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises on the mid-stream error event
        await stream_text(g, Q)
    state, text, _ = await stream_text(g, Q)
    assert state == "miss" and text == mock.text and mock.count == 2


async def test_cache_control_headers(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    state, _ = await ask(g, Q, {"Cache-Control": "no-store"})
    assert state == "miss"
    state, _ = await ask(g, Q, {"Cache-Control": "no-cache"})  # skips the lookup, stores
    assert state == "bypass" and mock.count == 2
    state, _ = await ask(g, Q)
    assert state == "hit" and mock.count == 2
    state, _ = await ask(g, Q, {"Cache-Control": "no-cache, no-store"})
    assert state == "bypass" and mock.count == 3


async def test_semantic_paraphrase_served_and_traps_refused(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(cache_config(mock))
    await ask(g, Q)
    await ask(g, "What is the capital of France?")
    assert mock.count == 2

    state, r = await ask(g, "how do i convert 5 km to miles")
    assert state == "semantic" and mock.count == 2
    assert float(r.headers["x-aigw-cache-similarity"]) >= 0.99
    assert r.parse().choices[0].message.content == mock.text
    state, _ = await ask(g, "What's the capital of France?")
    assert state == "semantic" and mock.count == 2

    traps: list[tuple[str, dict[str, Any]]] = [
        ("How do I convert 5 miles to km?", {}),  # word order (cosine 1.0)
        ("How do I convert 6 km to miles?", {}),  # numbers
        ("How do I not convert 5 km to miles?", {}),  # negation
        ("What is the capital of Germany?", {}),  # other entity
        ("how do i convert 5 km to miles", {"messages": msgs(Q, system="You are verbose.")}),
        (
            "how do i convert 5 km to miles",
            {"messages": msgs(Q, earlier=[{"role": "user", "content": "hi"}])},
        ),
        ("", {}),  # empty prompt: a zero vector
        ("🙂🙂🙂", {}),  # out of vocabulary: a zero vector
    ]
    for text, kw in traps:
        if "messages" in kw:
            kw = {"messages": [*kw["messages"][:-1], {"role": "user", "content": text}]}
        before = mock.count
        state, _ = await ask(g, text, **kw)
        assert state == "miss", text
        assert mock.count == before + 1, text


async def test_tools_and_temperature_never_served_semantically(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(cache_config(mock))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    await ask(g, Q, tools=tools)
    state, _ = await ask(g, "how do i convert 5 km to miles", tools=tools)
    assert state == "miss" and mock.count == 2
    state, _ = await ask(g, Q, tools=tools)
    assert state == "hit" and mock.count == 2  # exact caching of tool requests is fine

    await ask(g, Q, temperature=0.7)
    state, _ = await ask(g, "how do i convert 5 km to miles", temperature=0.7)
    assert state == "miss" and mock.count == 4
    # ... unless the caller opts in (for the stored answer and the new question).
    opt_in = {"x-aigw-semantic-cache": "on"}
    await ask(g, "What is the capital of France?", opt_in, temperature=0.7)
    state, _ = await ask(g, "What's the capital of France?", opt_in, temperature=0.7)
    assert state == "semantic" and mock.count == 5


async def test_orgs_and_per_key_switch(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    # The cache stage straight onto the real dispatcher: the principal is the one given here
    # (the auth stage, which would set it from the API key, is not in this chain).
    chat = compose([g.gateway.cache], g.gateway.dispatcher.chat)
    body = {"model": "gpt-test", "messages": msgs(Q), "temperature": 0}

    contexts: list[RequestContext] = []

    async def run(principal: Principal, stream: bool = False) -> str | None:
        ctx = RequestContext("r", "chat", dict(body), {}, "gpt-test", stream, principal)
        contexts.append(ctx)
        res = await chat(ctx)
        if isinstance(res, StreamResult):
            async for _ in res.chunks:
                pass
        ctx.status = 200  # as the response writer does once the answer is out
        await ctx.finish()
        return ctx.cache

    assert await run(Principal(org_id="a")) == "miss"
    assert await run(Principal(org_id="a")) == "hit"
    # The hit carries the cached usage (what it saved) for usage records and metrics.
    assert contexts[1].usage == contexts[0].usage and contexts[1].usage.completion_tokens > 0
    assert contexts[1].extra_log["cache"] == "hit" and contexts[1].attempts == 0
    assert await run(Principal(org_id="b")) == "miss"  # never another org's answer
    assert mock.count == 2
    assert await run(Principal(org_id="a", cache_enabled=False)) == "bypass"
    assert mock.count == 3


async def test_global_scope_shares_across_orgs(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock, scope="global"))
    body = {"model": "gpt-test", "messages": msgs(Q), "temperature": 0}
    states = []
    for org in ("a", "b"):
        ctx = RequestContext("r", "chat", dict(body), {}, "gpt-test", False, Principal(org_id=org))
        await compose([g.gateway.cache], g.gateway.dispatcher.chat)(ctx)
        ctx.status = 200  # as the response writer does once the answer is out
        await ctx.finish()
        states.append(ctx.cache)
    assert states == ["miss", "hit"] and mock.count == 1


async def test_embeddings_are_cached_exactly(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    c = g.openai()
    r1 = await c.embeddings.with_raw_response.create(model="embed-test", input=["a b c"])
    r2 = await c.embeddings.with_raw_response.create(model="embed-test", input=["a b c"])
    assert r1.headers["x-aigw-cache"] == "miss" and r2.headers["x-aigw-cache"] == "hit"
    assert r1.parse().data[0].embedding == r2.parse().data[0].embedding
    assert mock.count == 1


async def test_ttl_expiry(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(cache_config(mock))
    now = [1000.0]
    stage = g.gateway.cache
    stage.clock = stage.store.clock = stage.semantic.index.clock = lambda: now[0]
    await ask(g, Q)
    assert (await ask(g, Q))[0] == "hit"
    now[0] += 3601  # default ttl 1h
    assert (await ask(g, Q))[0] == "miss"
    assert (await ask(g, "how do i convert 5 km to miles"))[0] == "semantic"  # re-stored
    assert mock.count == 2


async def test_disabled_by_default(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(mock_config(mock.url))
    assert g.gateway.cache is None
    state, _ = await ask(g, Q)
    await ask(g, Q)
    assert state is None and mock.count == 2


async def test_semantic_lookup_through_the_hnsw_index(mock: MockOpenAI, start_gateway: Any) -> None:
    # Every scope on usearch HNSW (int8) from its first entry: the search runs in a thread and
    # candidates are re-scored from the stored vectors before the threshold applies.
    g = await start_gateway(cache_config(mock, semantic={"hnsw_min_entries": 1}))
    await ask(g, Q)
    await ask(g, "What is the capital of France?")
    state, r = await ask(g, "how do i convert 5 km to miles")
    assert state == "semantic" and float(r.headers["x-aigw-cache-similarity"]) >= 0.99
    assert (await ask(g, "How do I convert 5 miles to km?"))[0] == "miss"
    assert mock.count == 3
