"""Embeddings micro-batching and in-flight coalescing of identical temperature-0 chats."""

from __future__ import annotations

import asyncio

import pytest

from aigw.bench.mock_upstream import Fail, MockOpenAI, fake_vector
from tests.helpers_routing import routed_config, until

MODELS = {
    "embed-test": {"provider": "mock", "model": "upstream-embed"},
    "gpt-test": {"provider": "mock", "model": "upstream-model"},
}


def _batching(mock: MockOpenAI, **batch) -> dict:
    # A long window: batches here flush because they are full, not by timing.
    b = {"enabled": True, "window": "5s", "max_inputs": 64, **batch}
    return routed_config(mock.url, MODELS, queue={"batch_embeddings": b})


async def test_concurrent_embeddings_share_one_call_and_get_their_own_vectors(
    mock: MockOpenAI, start_gateway
):
    g = await start_gateway(_batching(mock, max_inputs=8))  # the 8 inputs below: full
    client = g.openai()
    inputs = [
        "alpha",
        ["b1", "b2", "b3"],
        ["c1"],
        "delta with more words in it",
        ["e1", "e2"],
    ]
    results = await asyncio.gather(
        *(client.embeddings.create(model="embed-test", input=i) for i in inputs)
    )
    assert mock.count == 1  # one upstream call for all five
    assert len(mock.calls[0]["body"]["input"]) == 8
    total = 0
    for inp, res in zip(inputs, results, strict=True):
        texts = [inp] if isinstance(inp, str) else inp
        assert [d.index for d in res.data] == list(range(len(texts)))
        for d, text in zip(res.data, texts, strict=True):
            assert d.embedding == pytest.approx(fake_vector(text, mock.dims), abs=1e-6)
        total += res.usage.prompt_tokens
    upstream_tokens = sum(
        max(1, len(t) // 4) for i in inputs for t in ([i] if isinstance(i, str) else i)
    )
    assert total == upstream_tokens  # the shares add up to what the upstream counted


async def test_max_inputs_splits_batches_and_params_keep_batches_apart(
    mock: MockOpenAI, start_gateway
):
    g = await start_gateway(_batching(mock, max_inputs=4, window="50ms"))
    client = g.openai()
    res = await asyncio.gather(
        client.embeddings.create(model="embed-test", input=["a1", "a2", "a3"]),
        client.embeddings.create(model="embed-test", input=["b1", "b2", "b3"]),
        client.embeddings.create(model="embed-test", input="x", dimensions=4),
        client.embeddings.create(model="embed-test", input="y", encoding_format="float"),
    )
    # 3+3 > 4 inputs; other dimensions / encoding are their own (the SDK asks for base64)
    assert mock.count == 4
    assert [len(r.data) for r in res] == [3, 3, 1, 1]
    assert len(res[2].data[0].embedding) == 4
    assert res[1].data[2].embedding == pytest.approx(fake_vector("b3", mock.dims), abs=1e-6)
    assert res[3].data[0].embedding == pytest.approx(fake_vector("y", mock.dims), abs=1e-6)


async def test_a_failed_batch_fails_every_member_over(mock: MockOpenAI, start_gateway):
    cfg = _batching(mock, max_inputs=3)
    cfg["models"]["embed-test"]["fallbacks"] = ["embed-b"]
    cfg["models"]["embed-b"] = {"provider": "mock", "model": "upstream-embed-b"}
    g = await start_gateway(cfg)
    mock.fail(Fail(500, model="upstream-embed"))
    client = g.openai()
    res = await asyncio.gather(
        *(client.embeddings.create(model="embed-test", input=[f"t{i}"]) for i in range(3))
    )
    assert [c["body"]["model"] for c in mock.calls] == ["upstream-embed", "upstream-embed-b"]
    for i, r in enumerate(res):
        assert r.data[0].embedding == pytest.approx(fake_vector(f"t{i}", mock.dims), abs=1e-6)


async def test_identical_temperature_zero_chats_share_one_call(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, MODELS))
    mock.hold = asyncio.Event()
    client = g.openai()
    msgs = [{"role": "user", "content": "same"}]
    tasks = [
        asyncio.create_task(
            client.chat.completions.with_raw_response.create(
                model="gpt-test", messages=msgs, temperature=0
            )
        )
        for _ in range(3)
    ]
    other = asyncio.create_task(
        client.chat.completions.create(model="gpt-test", messages=msgs, temperature=0.7)
    )
    await until(lambda: mock.count == 2)  # one shared call + the temperature-0.7 one
    await until(lambda: g.gateway.dispatcher.coalescer.shared == 2)
    mock.hold.set()
    resps = await asyncio.gather(*tasks)
    await other
    assert mock.count == 2
    bodies = [r.parse() for r in resps]
    assert len({b.id for b in bodies}) == 1
    assert sorted(r.headers.get("x-aigw-coalesced", "0") for r in resps) == ["0", "1", "1"]
    assert len(g.gateway.dispatcher.coalescer) == 0


async def test_coalesced_error_reaches_every_caller(mock: MockOpenAI, start_gateway):
    g = await start_gateway(routed_config(mock.url, MODELS))
    mock.fail(Fail(400, delay=0.2, body={"error": {"message": "nope", "type": "x"}}))
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "e"}], "temperature": 0}

    async def post():
        async with g.http.post(g.url + "/v1/chat/completions", json=body) as r:
            return r.status

    assert await asyncio.gather(post(), post()) == [400, 400]
    assert mock.count == 1


async def test_batching_with_a_concurrency_cap_keeps_slot_counts_exact(
    mock: MockOpenAI, start_gateway
):
    cfg = _batching(mock, window="20ms", max_inputs=2)
    cfg["models"]["embed-test"]["max_concurrency"] = 1
    g = await start_gateway(cfg)
    pool = g.gateway.dispatcher.states["mock/upstream-embed"].slots
    mock.latency = 0.02
    client = g.openai()
    res = await asyncio.gather(
        *(client.embeddings.create(model="embed-test", input=f"t{i}") for i in range(6))
    )
    assert [r.data[0].embedding for r in res] == [
        pytest.approx(fake_vector(f"t{i}", mock.dims), abs=1e-6) for i in range(6)
    ]
    sizes = [len(c["body"]["input"]) for c in mock.calls]
    assert sum(sizes) == 6 and max(sizes) <= 2  # max_inputs respected
    assert mock.max_active == 1  # one combined call at a time
    assert pool.in_use == 0 and pool.waiting == 0
    snap = g.gateway.dispatcher.snapshot()["mock/upstream-embed"]
    assert snap["in_flight"] == 0 and snap["queued"] == 0
