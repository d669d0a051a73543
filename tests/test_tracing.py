"""OpenTelemetry: the span tree of a request with a retry and a failover, GenAI attributes,
W3C traceparent from the client to the upstream, nothing secret in spans, zero work when off."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aigw.bench.mock_upstream import DEFAULT_TEXT, Fail, MockOpenAI, count_tokens, words
from tests.conftest import mock_config
from tests.helpers_observability import finished

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
PROMPT = "the secret plans of the tracing test"


def traced_config(mock_url: str, **tracing: Any) -> dict[str, Any]:
    cfg = mock_config(
        mock_url,
        observability={"tracing": {"enabled": True, "exporter": "none", **tracing}},
        routing={"retries": {"max_attempts": 2, "base_delay": "1ms", "max_delay": "2ms"}},
    )
    cfg["models"]["gpt-fo"] = {
        "deployments": [
            {"provider": "mock", "model": "up-a"},
            {"provider": "mock", "model": "up-b"},
        ]
    }
    return cfg


async def _start(start_gateway: Any, cfg: dict[str, Any]) -> tuple[Any, InMemorySpanExporter]:
    g = await start_gateway(cfg)
    mem = InMemorySpanExporter()
    g.gateway.observability.tracing.add_exporter(mem)
    return g, mem


def _hex(n: int, width: int) -> str:
    return format(n, f"0{width}x")


async def test_span_tree_of_a_request_with_a_retry_and_a_failover(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g, mem = await _start(start_gateway, traced_config(mock.url))
    # The first deployment fails twice (the try and its retry), the second answers.
    mock.fail(Fail(500), Fail(500))
    body = {"model": "gpt-fo", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 50}
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json=body,
        headers={"traceparent": TRACEPARENT, "Authorization": "Bearer sk-client-secret"},
    ) as r:
        assert r.status == 200, await r.text()
        assert r.headers["x-aigw-attempts"] == "3"
    await finished(g.gateway)
    spans = mem.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    assert {s.context.trace_id for s in spans} == {int(CLIENT_TRACE, 16)}  # the client's trace

    roots = [s for s in spans if s.kind == SpanKind.SERVER]
    assert len(roots) == 1
    root = roots[0]
    assert root.name == "chat gpt-fo"
    assert root.parent is not None and root.parent.span_id == int(CLIENT_SPAN, 16)
    a = root.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-fo"
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.usage.input_tokens"] == count_tokens(PROMPT)
    assert a["gen_ai.usage.output_tokens"] == len(words(DEFAULT_TEXT))
    assert a["aigw.attempts"] == 3
    assert a["http.response.status_code"] == 200
    assert a["gen_ai.response.model"] in ("up-a", "up-b")

    def ancestors(s: Any) -> list[str]:
        out = []
        while s.parent is not None and s.parent.span_id in by_id:
            s = by_id[s.parent.span_id]
            out.append(s.name)
        return out

    # Every span hangs under the request's span; the stages nest, the dispatcher innermost.
    for s in spans:
        if s is not root:
            assert ancestors(s)[-1] == root.name, s.name
    dispatch = [s for s in spans if s.name == "aigw.dispatch"]
    assert len(dispatch) == 1

    attempts = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(attempts) == 3 == mock.count
    for s in attempts:
        assert "aigw.dispatch" in ancestors(s)
        assert s.attributes["gen_ai.provider.name"] == "openai"
        assert s.attributes["aigw.provider"] == "mock"
    deps = [s.attributes["aigw.deployment"] for s in attempts]
    assert deps[0] == deps[1] != deps[2]  # a retry of the same deployment, then the failover
    assert [s.attributes["http.response.status_code"] for s in attempts] == [500, 500, 200]
    assert [s.attributes.get("error.type") for s in attempts] == [
        "server_error",
        "server_error",
        None,
    ]
    assert attempts[2].attributes["gen_ai.request.model"] == a["gen_ai.response.model"]
    # Each upstream call carried the context of its own attempt span.
    for call, s in zip(mock.calls, attempts, strict=True):
        want = f"00-{CLIENT_TRACE}-{_hex(s.context.span_id, 16)}-01"
        assert call["headers"]["traceparent"] == want

    # After the answer: the usage write has its own span under the request's.
    (usage,) = [s for s in spans if s.name == "aigw.finish.UsageRecorder._record"]
    assert usage.parent.span_id == root.context.span_id
    assert usage.start_time >= attempts[2].end_time

    # Nothing secret or private in any span.
    dumped = orjson.dumps(
        [{"name": s.name, "attrs": dict(s.attributes), "events": len(s.events)} for s in spans]
    ).decode()
    for secret in ("sk-client-secret", "sk-upstream-secret", "secret plans", "Bearer"):
        assert secret not in dumped


async def test_stream_span_ends_after_the_stream_with_usage_and_ttft(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g, mem = await _start(start_gateway, traced_config(mock.url))
    stream = await g.openai().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == DEFAULT_TEXT
    await finished(g.gateway)
    root = next(s for s in mem.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert root.attributes["gen_ai.request.stream"] is True
    assert root.attributes["gen_ai.usage.output_tokens"] == len(words(DEFAULT_TEXT))
    assert root.attributes["gen_ai.response.time_to_first_chunk"] > 0
    # A new trace (no traceparent from the client); the upstream got this trace's context.
    trace_hex = _hex(root.context.trace_id, 32)
    assert mock.calls[0]["headers"]["traceparent"].split("-")[1] == trace_hex


async def test_refused_request_has_error_span(mock: MockOpenAI, start_gateway: Any) -> None:
    g, mem = await _start(start_gateway, traced_config(mock.url))
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    ) as r:
        assert r.status == 404
    await finished(g.gateway)
    root = next(s for s in mem.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert root.attributes["http.response.status_code"] == 404
    assert root.attributes["error.type"] == "model_not_found"
    assert mock.count == 0


async def test_sampled_out_requests_export_nothing_but_still_propagate(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g, mem = await _start(start_gateway, traced_config(mock.url, sample_ratio=0.0))
    await g.openai().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    await finished(g.gateway)
    assert mem.get_finished_spans() == ()
    tp = mock.calls[0]["headers"]["traceparent"]
    version, trace_id, span_id, flags = tp.split("-")
    assert version == "00" and int(trace_id, 16) and int(span_id, 16)
    assert int(flags, 16) & 1 == 0  # a valid context, marked "not sampled"


async def test_tracing_off_passes_the_clients_traceparent_through(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(mock_config(mock.url))
    assert g.gateway.observability.tracing is None
    from aigw.observability.stage import ObservabilityStage

    assert all(
        type(s).__name__ != "TracedStage" for s in g.gateway.stages
    )  # no span wrappers when off
    assert isinstance(g.gateway.stages[0], ObservabilityStage)
    await g.openai(default_headers={"traceparent": TRACEPARENT}).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    assert mock.calls[0]["headers"]["traceparent"] == TRACEPARENT


async def test_waiting_for_a_concurrency_slot_is_a_span(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    cfg = traced_config(mock.url)
    cfg["models"]["gpt-test"] = {
        "provider": "mock",
        "model": "upstream-model",
        "max_concurrency": 1,
    }
    g, mem = await _start(start_gateway, cfg)
    mock.latency = 0.05  # the first request holds the only slot for a while
    client = g.openai()
    await asyncio.gather(
        *(
            client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": f"question {i}"}]
            )
            for i in range(2)
        )
    )
    await finished(g.gateway)
    spans = mem.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    waits = [s for s in spans if s.name == "aigw.queue.wait"]
    assert len(waits) == 1
    assert by_id[waits[0].parent.span_id].name == "aigw.dispatch"
    assert waits[0].attributes["aigw.queue_ms"] > 0
    assert waits[0].end_time - waits[0].start_time > 0
    async with g.http.get(g.url + "/metrics") as r:
        text = await r.text()
    assert 'queue_wait_seconds_count{deployment="mock/upstream-model"} 1.0' in text
