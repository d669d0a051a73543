"""JSON logs: one line per request with the request id (and trace id), structured events with
their fields, and no key, JWT or prompt text unless `logging.log_prompts` is on."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aigw.bench.mock_upstream import DEFAULT_TEXT, Fail, MockOpenAI
from aigw.observability import logging as obslog
from aigw.observability.logging import request_id_var
from tests.conftest import mock_config
from tests.helpers_observability import finished

PROMPT = "my very private question about the merger"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"


class Logs:
    def __init__(self, buf: io.StringIO) -> None:
        self.buf = buf

    @property
    def text(self) -> str:
        return self.buf.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [r for r in self.lines() if r["logger"] == "aigw.access"]


@pytest.fixture
def logs() -> Iterator[Logs]:
    root = logging.getLogger("aigw")
    saved = (root.handlers[:], root.level, root.propagate, obslog.trace_id_source)
    buf = io.StringIO()
    obslog.setup("info", "json", stream=buf)
    try:
        yield Logs(buf)
    finally:
        root.handlers[:], root.level, root.propagate, obslog.trace_id_source = saved


def test_json_formatter_carries_extra_fields_and_the_request_id(logs: Logs) -> None:
    token = request_id_var.set("req_abc")
    try:
        logging.getLogger("aigw.routing").warning(
            "failover",
            extra={"event": "failover", "from_deployment": "a/x", "to_deployment": "b/y", "n": 2},
        )
    finally:
        request_id_var.reset(token)
    (line,) = logs.lines()
    assert line["msg"] == "failover" and line["level"] == "warning"
    assert line["logger"] == "aigw.routing"
    assert line["request_id"] == "req_abc"
    assert line["from_deployment"] == "a/x" and line["to_deployment"] == "b/y" and line["n"] == 2
    assert line["ts"].endswith("Z")


async def test_access_line_has_request_and_trace_ids_and_no_secrets(
    mock: MockOpenAI, start_gateway: Any, logs: Logs
) -> None:
    g = await start_gateway(
        mock_config(
            mock.url,
            logging={"level": "info"},
            observability={"tracing": {"enabled": True, "exporter": "none"}},
        )
    )
    mem = InMemorySpanExporter()
    g.gateway.observability.tracing.add_exporter(mem)
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"Authorization": f"Bearer {JWT}", "X-Request-ID": "req-from-client-1"},
    ) as r:
        assert r.status == 200
    mock.fail(Fail(500, body={"error": {"message": "upstream broke", "type": "server_error"}}))
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json={"model": "gpt-test", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"Authorization": "Bearer sk-client-key-123"},
    ) as r:
        assert r.status == 502
    await finished(g.gateway)
    access = logs.access()
    assert len(access) == 2
    ok = access[0]
    assert ok["request_id"] == "req-from-client-1" and ok["status"] == 200
    roots = [s for s in mem.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert ok["trace_id"] == format(roots[0].context.trace_id, "032x")
    assert access[1]["trace_id"] == format(roots[1].context.trace_id, "032x")
    assert access[1]["status"] == 502
    # Nothing secret or private anywhere in the logs.
    for secret in (JWT, "sk-client-key-123", "sk-upstream-secret", PROMPT, DEFAULT_TEXT):
        assert secret not in logs.text


async def test_log_prompts_puts_contents_in_the_access_line_only_when_on(
    mock: MockOpenAI, start_gateway: Any, logs: Logs
) -> None:
    g = await start_gateway(
        mock_config(
            mock.url,
            logging={"level": "info", "log_prompts": True},
            observability={"metrics": {"enabled": False}},
        )
    )
    client = g.openai()
    await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": PROMPT}]
    )
    stream = await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    async for _ in stream:
        pass
    plain, streamed = logs.access()
    assert plain["prompt"] == [{"role": "user", "content": PROMPT}]
    assert plain["answer"] == [DEFAULT_TEXT]
    assert streamed["answer"] == DEFAULT_TEXT
    # Even then, keys stay out.
    assert "sk-client" not in logs.text and "sk-upstream-secret" not in logs.text


def test_trace_id_on_lines_logged_inside_a_span(logs: Logs) -> None:
    from aigw.observability.settings import TracingSettings
    from aigw.observability.tracing import Tracing

    tr = Tracing(TracingSettings(enabled=True, exporter="none"))
    with tr.tracer.start_as_current_span("work") as span:
        logging.getLogger("aigw.cache").info("stored", extra={"bytes": 12})
        want = format(span.get_span_context().trace_id, "032x")
    logging.getLogger("aigw").info("outside")
    inside, outside = logs.lines()
    assert inside["trace_id"] == want and inside["bytes"] == 12
    assert "trace_id" not in outside
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(obslog.TextFormatter())
    logging.getLogger("aigw").addHandler(handler)
    with tr.tracer.start_as_current_span("more") as span:
        logging.getLogger("aigw").warning("breaker opened", extra={"deployment": "a/b"})
        tid = format(span.get_span_context().trace_id, "032x")
    assert f"trace_id={tid}" in text.getvalue() and "deployment=a/b" in text.getvalue()
