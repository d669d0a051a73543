"""/metrics after a known mix of requests shows exactly the expected counts and token sums;
labels stay bounded; scrape-time gauges; the admin JSON summary agrees with the scrape."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from aigw.bench.mock_upstream import DEFAULT_TEXT, Fail, MockOpenAI, count_tokens, words
from tests.conftest import mock_config
from tests.helpers_observability import finished, scrape

ANSWER_TOKENS = len(words(DEFAULT_TEXT))
CHAT = "/v1/chat/completions"


def msgs(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_known_mix_gives_exact_counts_and_token_sums(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(
        mock_config(
            mock.url, server={"max_body_bytes": 4000}, routing={"retries": {"max_attempts": 1}}
        )
    )
    client = g.openai()
    prompts = ["alpha beta gamma delta", "a much longer prompt with many more words in it", "x"]
    for p in prompts:
        await client.chat.completions.create(model="gpt-test", messages=msgs(p))
    stream_prompts = ["streamed question one", "streamed question number two"]
    s1 = await client.chat.completions.create(
        model="gpt-test",
        messages=msgs(stream_prompts[0]),
        stream=True,
        stream_options={"include_usage": True},
    )
    async for _ in s1:
        pass
    s2 = await client.chat.completions.create(
        model="gpt-test", messages=msgs(stream_prompts[1]), stream=True
    )
    async for _ in s2:
        pass
    # The upstream refuses one request (400: not retryable, one attempt).
    mock.fail(Fail(400, body={"error": {"message": "bad temperature", "type": "x", "code": "v"}}))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gpt-test", messages=msgs("refused"))
    # A model nobody configured: the label says "other", never the client's string.
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="secret-project-x", messages=msgs("hi"))
    emb_inputs = ["one two three four", "five six"]
    await client.embeddings.create(model="embed-test", input=emb_inputs)
    # Refused before the pipeline: bad JSON, unknown path, body too large.
    async with g.http.post(g.url + CHAT, data=b"{not json") as r:
        assert r.status == 400
    async with g.http.get(g.url + "/no/such/path/with-a-token-sk-123") as r:
        assert r.status == 404
    big = orjson.dumps({"model": "gpt-test", "messages": msgs("y" * 5000)})
    async with g.http.post(g.url + CHAT, data=big) as r:
        assert r.status == 413
    assert mock.count == 3 + 2 + 1 + 1  # chats, streams, the refused one, embeddings

    s = await scrape(g.http, g.url, g.gateway)
    # HTTP: every request, by route pattern and status class.
    assert s.value("http_requests_total", route=CHAT, status_class="2xx") == 5
    assert s.value("http_requests_total", route=CHAT, status_class="4xx") == 4
    assert s.value("http_requests_total", route="/v1/embeddings", status_class="2xx") == 1
    assert s.value("http_requests_total", route="other", status_class="4xx") == 1
    assert s.value("http_request_duration_seconds_count", route=CHAT) == 9
    assert s.value("http_request_duration_seconds_count", route="/v1/embeddings") == 1
    assert s.value("http_requests_in_flight") == 1  # the scrape itself
    # LLM requests.
    assert s.value("llm_requests_total", model="gpt-test", provider="mock", status_class="2xx") == 5
    assert s.value("llm_requests_total", model="gpt-test", provider="mock", status_class="4xx") == 1
    assert s.value("llm_requests_total", model="other", provider="none", status_class="4xx") == 1
    assert s.value("llm_requests_total", model="embed-test", status_class="2xx") == 1
    # Token sums: the mock's own accounting of every answered request.
    chat_in = sum(count_tokens(p) for p in prompts + stream_prompts)
    assert s.value("llm_tokens_total", model="gpt-test", direction="input") == chat_in
    assert s.value("llm_tokens_total", model="gpt-test", direction="output") == 5 * ANSWER_TOKENS
    emb_in = sum(count_tokens(t) for t in emb_inputs)
    assert s.value("llm_tokens_total", model="embed-test", direction="input") == emb_in
    # Upstream attempts and errors, per deployment and provider.
    dep = "mock/upstream-model"
    assert s.value("llm_upstream_requests_total", deployment=dep, status_class="2xx") == 5
    assert s.value("llm_upstream_requests_total", deployment=dep, status_class="4xx") == 1
    assert s.value("provider_errors_total", provider="mock", kind="bad_request") == 1
    assert s.value("provider_errors_total") == 1
    assert s.value("llm_time_to_first_token_seconds_count", deployment=dep) == 2
    assert s.value("llm_upstream_latency_seconds_count", deployment=dep) == 6
    # Bounded labels: no client-chosen string became a label value.
    assert "secret-project-x" not in s.text and "sk-123" not in s.text
    assert "sk-client" not in s.text and "sk-upstream-secret" not in s.text
    assert "alpha beta" not in s.text
    models = {lab["model"] for lab in s.series("llm_requests_total")}
    assert models == {"gpt-test", "embed-test", "other"}


async def test_rate_limit_rejections_counted_by_reason_not_upstream_429s(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(mock_config(mock.url, rate_limiting={"requests_per_minute": 2}))
    client = g.openai()
    mock.fail(Fail(429))  # the provider's 429: a provider error, not our limit
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-test", messages=msgs("hi"))
    await client.chat.completions.create(model="gpt-test", messages=msgs("hi"))
    for _ in range(2):  # over the gateway's own limit
        with pytest.raises(openai.RateLimitError) as ei:
            await client.chat.completions.create(model="gpt-test", messages=msgs("hi"))
        assert ei.value.code == "rate_limit_exceeded"
    assert mock.count == 2
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("rate_limit_rejections_total", reason="rate_limited", resource="requests") == 2
    assert s.value("rate_limit_rejections_total") == 2
    assert s.value("provider_errors_total", provider="mock", kind="rate_limited") == 1
    assert s.value("llm_requests_total", status_class="4xx", provider="none") == 2
    assert s.value("llm_requests_total", status_class="4xx", provider="mock") == 1


async def test_gauge_sources_read_at_scrape_time(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(mock_config(mock.url))
    m = g.gateway.observability.metrics
    depth = {"mock/upstream-model": 3}
    m.register_gauge_source("queue_length", lambda: depth, "Waiting.", labels=("deployment",))
    m.register_gauge_source("usage_writer_backlog", lambda: 7, "Unwritten records.")
    m.register_gauge_source(
        "breaker_state",
        lambda: {("mock", "mock/upstream-model"): 2},
        "0 closed, 1 half-open, 2 open.",
        labels=("provider", "deployment"),
        mode="max",
    )

    def broken() -> float:
        raise RuntimeError("component bug")

    m.register_gauge_source("usage_spool_bytes", broken, "Spool size.")
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("queue_length", deployment="mock/upstream-model") == 3
    assert s.value("usage_writer_backlog") == 7
    assert s.value("breaker_state", provider="mock", deployment="mock/upstream-model") == 2
    assert s.series("usage_spool_bytes") == []  # a failing source is skipped, not fatal
    depth["mock/upstream-model"] = 0
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("queue_length", deployment="mock/upstream-model") == 0
    with pytest.raises(ValueError):
        m.register_gauge_source("x", lambda: 1, mode="avg")


async def test_admin_summary_agrees_with_the_scrape(
    mock: MockOpenAI, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGW_ADMIN_KEY", "adm-test-key")
    g = await start_gateway(mock_config(mock.url))
    client = g.openai()
    for _ in range(4):
        await client.chat.completions.create(model="gpt-test", messages=msgs("four words in here"))
    mock.fail(Fail(400))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gpt-test", messages=msgs("x"))
    await finished(g.gateway)
    async with g.http.get(g.url + "/v1/admin/metrics") as r:
        assert r.status == 401
    async with g.http.get(
        g.url + "/v1/admin/metrics", headers={"Authorization": "Bearer wrong"}
    ) as r:
        assert r.status == 403
    async with g.http.get(
        g.url + "/v1/admin/metrics", headers={"Authorization": "Bearer adm-test-key"}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["requests"]["total"] == 5
    assert body["requests"]["errors"] == 1
    assert body["requests"]["error_rate"] == pytest.approx(0.2)
    assert body["tokens"]["input"] == 4 * count_tokens("four words in here")
    assert body["tokens"]["output"] == 4 * ANSWER_TOKENS
    lat = body["latency_seconds"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    p = body["providers"]["mock"]
    assert p["requests"] == 5 and p["attempts"] == 5 and p["errors"] == 1
    assert p["errors_by_kind"] == {"bad_request": 1}
    assert p["tokens"]["output"] == 4 * ANSWER_TOKENS
    assert body["cache"]["hit_rate"] is None  # no cacheable traffic seen
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("llm_requests_total") == body["requests"]["total"]


async def test_org_label_only_when_configured(mock: MockOpenAI, start_gateway: Any) -> None:
    off = await start_gateway(mock_config(mock.url))
    on = await start_gateway(mock_config(mock.url, observability={"metrics": {"org_label": True}}))
    for g in (off, on):
        await g.openai().chat.completions.create(model="gpt-test", messages=msgs("hi"))
    s_off, s_on = (
        await scrape(off.http, off.url, off.gateway),
        await scrape(on.http, on.url, on.gateway),
    )
    assert all("org" not in lab for lab in s_off.series("llm_requests_total"))
    assert s_on.value("llm_requests_total", org="default") == 1
    assert s_on.value("llm_tokens_total", org="default", direction="output") == ANSWER_TOKENS


async def test_metrics_path_auth_and_off_switch(
    mock: MockOpenAI, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGW_ADMIN_KEY", "adm-test-key")
    g = await start_gateway(
        mock_config(mock.url, observability={"metrics": {"path": "/internal/m", "auth": "admin"}})
    )
    async with g.http.get(g.url + "/internal/m") as r:
        assert r.status == 401
    async with g.http.get(
        g.url + "/internal/m", headers={"Authorization": "Bearer adm-test-key"}
    ) as r:
        assert r.status == 200
        assert "http_requests_total" in await r.text()
    off = await start_gateway(mock_config(mock.url, observability={"metrics": {"enabled": False}}))
    assert off.gateway.observability.stage is None  # nothing on the request's way
    assert off.gateway.client.observer is None
    await off.openai().chat.completions.create(model="gpt-test", messages=msgs("hi"))
    async with off.http.get(off.url + "/metrics") as r:
        assert r.status == 404


async def test_routing_gauges_come_from_the_dispatcher(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    cfg = mock_config(
        mock.url,
        routing={"breaker": {"failure_threshold": 1, "cooldown": "60s"}},
    )
    cfg["models"]["gpt-test"] = {
        "provider": "mock",
        "model": "upstream-model",
        "max_concurrency": 4,
    }
    g = await start_gateway(cfg)
    dep = "mock/upstream-model"
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("breaker_state", deployment=dep) == 0
    assert s.value("deployment_concurrency_limit", deployment=dep) == 4
    assert s.value("queue_length", deployment=dep) == 0
    # The usage writer's side: the database is reachable, the spool is (nearly) empty.
    assert s.series("usage_store_up") == [{}] and s.value("usage_store_up") == 1
    assert s.series("usage_spool_bytes") == [{}]
    mock.fail(Fail(500))
    with pytest.raises(openai.APIStatusError):
        await g.openai().chat.completions.create(model="gpt-test", messages=msgs("hi"))
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("breaker_state", deployment=dep) == 2  # open after one failure
    assert s.value("breaker_trips", deployment=dep) == 1


async def test_cache_hits_misses_cost_and_savings(mock: MockOpenAI, start_gateway: Any) -> None:
    g = await start_gateway(
        mock_config(
            mock.url,
            cache={"enabled": True, "semantic": {"enabled": False}},
            billing={"prices": {"gpt-test": {"input": 3.0, "output": 15.0}}},
        )
    )
    client = g.openai()
    q1, q2 = "what is the capital of france", "and of italy"
    for q in (q1, q1, q2):  # miss, hit, miss
        await client.chat.completions.create(model="gpt-test", messages=msgs(q), temperature=0)
    assert mock.count == 2
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("cache_hit_total", model="gpt-test", kind="exact") == 1
    assert s.value("cache_miss_total", model="gpt-test") == 2
    # Tokens and cost: only what the provider processed (the two misses).
    inp = count_tokens(q1) + count_tokens(q2)
    assert s.value("llm_tokens_total", direction="input") == inp
    assert s.value("llm_tokens_total", direction="output") == 2 * ANSWER_TOKENS
    cost = (inp * 3.0 + 2 * ANSWER_TOKENS * 15.0) / 1e6
    assert s.value("llm_costs_total", model="gpt-test") == pytest.approx(cost)
    # The hit: what it saved, in tokens and at the model's price.
    assert s.value("cache_saved_tokens_total", direction="input") == count_tokens(q1)
    assert s.value("cache_saved_tokens_total", direction="output") == ANSWER_TOKENS
    saved = (count_tokens(q1) * 3.0 + ANSWER_TOKENS * 15.0) / 1e6
    assert s.value("cache_savings_total", model="gpt-test") == pytest.approx(saved)
    assert s.value("llm_requests_total", provider="none", status_class="2xx") == 1  # the hit
    assert s.value("cache_entries") == 2 and s.value("cache_bytes") > 0


def test_observability_config_errors_name_the_key() -> None:
    from aigw import config as configmod

    with pytest.raises(configmod.ConfigError) as ei:
        configmod.from_dict({"observability": {"metrics": {"path": "metrics"}}})
    assert "observability.metrics.path" in str(ei.value)
    with pytest.raises(configmod.ConfigError) as ei:
        configmod.from_dict({"observability": {"tracing": {"sample_rate": 0.5}}})
    assert "observability.tracing.sample_rate" in str(ei.value)
    cfg = configmod.from_dict({"observability": {"metrics": {"gauge_refresh": "500ms"}}})
    assert cfg.observability.metrics.gauge_refresh == 0.5
    assert cfg.observability.tracing.enabled is False  # off by default


async def test_in_flight_during_a_stream_and_a_mid_stream_failure(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(mock_config(mock.url))
    mock.tokens_per_second = 50  # a stream that lasts a while
    body = {"model": "gpt-test", "messages": msgs("tell me"), "stream": True}
    async with g.http.post(g.url + CHAT, json=body) as r:
        await r.content.readuntil(b"\n\n")  # the first chunk has arrived
        s = await scrape(g.http, g.url)
        assert s.value("http_requests_in_flight") == 2  # the stream and the scrape
        await r.read()
    mock.tokens_per_second = 0
    mock.fail(Fail(after_chunks=2))  # the upstream breaks off after two chunks
    async with g.http.post(g.url + CHAT, json=body) as r:
        assert r.status == 200  # already sent when the failure came
        assert b'"error"' in await r.read()
    s = await scrape(g.http, g.url, g.gateway)
    assert s.value("http_requests_in_flight") == 1
    assert s.value("llm_requests_total", status_class="2xx") == 1
    assert s.value("llm_requests_total", status_class="5xx") == 1
    assert s.value("http_requests_total", route=CHAT, status_class="5xx") == 1
    assert s.value("llm_time_to_first_token_seconds_count") == 2


async def test_clustered_rate_limiter_gauges_reach_the_scrape(
    mock: MockOpenAI, start_gateway: Any, redis_url: str, redis_prefix: str
) -> None:
    g = await start_gateway(
        mock_config(
            mock.url,
            rate_limiting={
                "requests_per_minute": 100,
                "redis_url": redis_url,
                "redis_prefix": redis_prefix,
            },
        )
    )
    await g.openai().chat.completions.create(model="gpt-test", messages=msgs("hi"))
    s = await scrape(g.http, g.url, g.gateway)
    assert s.series("ratelimit_fallback_active") == [{}]
    assert s.value("ratelimit_fallback_active") == 0  # Redis is up
    assert s.value("ratelimit_redis_errors") == 0


async def test_event_loop_lag_shows_a_stall(mock: MockOpenAI, start_gateway: Any) -> None:
    """The loop-lag probe sees a stall of the event loop (here a deliberate 300 ms blocking
    call, as a slow callback or a GC pause would be) in its histogram's top buckets."""
    import asyncio
    import time

    g = await start_gateway(mock_config(mock.url))
    before = await scrape(g.http, g.url)
    assert "event_loop_lag_seconds" in {f.name for f in before.families}
    slow0 = before.value("event_loop_lag_seconds_count") - before.value(
        "event_loop_lag_seconds_bucket", le="0.1"
    )
    time.sleep(0.3)  # blocks the loop the probe runs on
    deadline = time.monotonic() + 30
    while True:  # the probe observes once the loop runs again; poll for it, boundedly
        s = await scrape(g.http, g.url)
        slow = s.value("event_loop_lag_seconds_count") - s.value(
            "event_loop_lag_seconds_bucket", le="0.1"
        )
        if slow > slow0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert slow >= slow0 + 1  # a late wake-up, of more than 100 ms
    assert s.value("event_loop_lag_seconds_sum") - before.value("event_loop_lag_seconds_sum") >= 0.2
