"""Files and Batch APIs end to end: the official openai SDK against the gateway, a mock
OpenAI upstream on loopback, the embedded SQLite store."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.helpers_batches import (
    batch_settings,
    chat_file,
    chat_line,
    gauges,
    jsonl,
    parse_jsonl,
    wait_final,
)
from tests.helpers_limits import until


async def test_sdk_uploads_creates_polls_and_downloads(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    f = await client.files.create(file=("requests.jsonl", chat_file(20)), purpose="batch")
    assert f.object == "file" and f.purpose == "batch" and f.bytes == len(chat_file(20))
    assert (await client.files.retrieve(f.id)).filename == "requests.jsonl"
    b = await client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert b.status == "validating" and b.metadata == {"job": "nightly"}
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "completed", b
    assert b.request_counts is not None
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (
        20,
        20,
        0,
    )
    assert b.error_file_id is None and b.output_file_id
    assert b.in_progress_at and b.finalizing_at and b.completed_at
    assert b.usage is not None and b.usage.total_tokens > 0
    out = parse_jsonl((await client.files.content(b.output_file_id)).content)
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(20)]  # input order
    for o in out:
        assert o["id"].startswith("batch_req_") and o["error"] is None
        assert o["response"]["status_code"] == 200
        assert o["response"]["body"]["object"] == "chat.completion"
        assert o["response"]["request_id"].startswith("req_")
    assert mock.count == 20
    page = await client.batches.list(limit=5)
    assert [x.id for x in page.data] == [b.id]
    files = await client.files.list()
    assert {x.purpose for x in files.data} == {"batch", "batch_output"}

    # The worker's gauges are on /metrics: lines done recently, none left (the figures are
    # refreshed by the worker's next round, hence the wait).
    async def drained() -> bool:
        g = await gauges(gw)
        return g["batch_lines_queued"] == 0 and g["batch_oldest_pending_seconds"] == 0

    await until(drained)
    assert (await gauges(gw))["batch_lines_per_second"] > 0
    # The lines were recorded as usage of the batch.
    await gw.gateway.accounts.usage.flush()
    rows = await gw.gateway.accounts.store.usage_rows()
    assert len(rows) == 20 and {r["batch_id"] for r in rows} == {b.id}


# --- a bad input file fails the batch, its errors naming the lines -----------------------


async def test_malformed_input_file_fails_the_batch_naming_lines(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    good = chat_line("a")
    lines = [
        orjson.dumps(good),  # 1
        b"{not json",  # 2
        orjson.dumps({**good, "custom_id": ""}),  # 3
        orjson.dumps({**good, "custom_id": "a"}),  # 4: duplicate of line 1
        orjson.dumps({**good, "custom_id": "e", "url": "/v1/embeddings"}),  # 5: other endpoint
        orjson.dumps({**good, "custom_id": "f", "method": "GET"}),  # 6
        orjson.dumps({**good, "custom_id": "g", "body": "text"}),  # 7
        b"[1, 2]",  # 8
    ]
    f = await client.files.create(file=("bad.jsonl", b"\n".join(lines)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "failed" and b.failed_at and b.output_file_id is None
    assert b.errors is not None and b.errors.object == "list"
    got = [(e.line, e.code) for e in b.errors.data or []]
    assert got == [
        (2, "invalid_json_line"),
        (3, "missing_required_parameter"),
        (4, "duplicate_custom_id"),
        (5, "invalid_url"),
        (6, "invalid_method"),
        (7, "missing_required_parameter"),
        (8, "invalid_json_line"),
    ]
    assert mock.count == 0  # nothing ran


async def test_lines_the_endpoint_refuses_go_to_the_error_file(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    bad_body = chat_line("no-messages")
    bad_body["body"].pop("messages")
    lines = [
        chat_line("ok-1"),
        bad_body,
        chat_line("unknown-model", model="no-such-model"),
        chat_line("streamed", stream=True),
        chat_line("ok-2"),
    ]
    f = await client.files.create(file=("mixed.jsonl", jsonl(lines)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "completed"
    assert b.request_counts is not None
    assert (b.request_counts.completed, b.request_counts.failed) == (2, 3)
    assert b.output_file_id and b.error_file_id
    out = parse_jsonl((await client.files.content(b.output_file_id)).content)
    err = parse_jsonl((await client.files.content(b.error_file_id)).content)
    assert [o["custom_id"] for o in out] == ["ok-1", "ok-2"]
    assert [(e["custom_id"], e["response"]["status_code"]) for e in err] == [
        ("no-messages", 400),
        ("unknown-model", 404),
        ("streamed", 400),
    ]
    assert err[1]["response"]["body"]["error"]["code"] == "model_not_found"
    assert all(e["error"] is None for e in err)
    assert mock.count == 2


async def test_embeddings_batch(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "embed-test", "input": f"text {i}"},
        }
        for i in range(5)
    ]
    f = await client.files.create(file=("emb.jsonl", jsonl(lines)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "completed" and b.model == "embed-test"
    out = parse_jsonl((await client.files.content(b.output_file_id or "")).content)
    assert [o["custom_id"] for o in out] == [f"e{i}" for i in range(5)]
    assert all(o["response"]["body"]["object"] == "list" for o in out)


# --- the API's own checks ------------------------------------------------------------------


async def test_create_batch_checks_its_arguments(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    f = await client.files.create(file=("x.jsonl", chat_file(1)), purpose="batch")
    ok = {"input_file_id": f.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    cases = [
        ({**ok, "endpoint": "/v1/images/generations"}, "endpoint"),
        ({**ok, "completion_window": "1h"}, "completion_window"),
        ({**ok, "input_file_id": "file-nope"}, "input_file_id"),
        ({**ok, "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({**ok, "metadata": {"k": "v" * 513}}, "metadata"),
        ({**ok, "metadata": {"k" * 65: "v"}}, "metadata"),
        ({**ok, "metadata": {"k": 1}}, "metadata"),
    ]
    for body, param in cases:
        async with gw.http.post(gw.url + "/v1/batches", json=body) as r:
            assert r.status == 400, body
            assert (await r.json())["error"]["param"] == param
    # An unknown batch id, a limit out of range.
    async with gw.http.get(gw.url + "/v1/batches/batch_nope") as r:
        assert r.status == 404
    async with gw.http.get(gw.url + "/v1/batches?limit=101") as r:
        assert r.status == 400


async def test_upload_checks(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings(max_file_bytes=1000)))
    client = gw.openai()
    import openai

    with pytest.raises(openai.BadRequestError) as e:
        await client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")
    assert e.value.body["param"] == "purpose"  # type: ignore[index]
    with pytest.raises(openai.APIStatusError) as e2:
        await client.files.create(file=("x.jsonl", b"x" * 1001), purpose="batch")
    assert e2.value.status_code == 413
    with pytest.raises(openai.BadRequestError):
        await client.files.create(file=("x.jsonl", b"\xff\xfe"), purpose="batch")
    f = await client.files.create(file=("x.jsonl", b"x" * 1000), purpose="batch")
    assert (await client.files.delete(f.id)).deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(f.id)


async def test_list_batches_pages(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    f = await client.files.create(file=("x.jsonl", chat_file(1)), purpose="batch")
    ids = []
    for _ in range(5):
        b = await client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        ids.append(b.id)
    first = await client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    async with gw.http.get(gw.url + f"/v1/batches?limit=2&after={ids[3]}") as r:
        body = await r.json()
    assert [b["id"] for b in body["data"]] == [ids[2], ids[1]]
    assert body["first_id"] == ids[2] and body["last_id"] == ids[1] and body["has_more"] is True
    every = [b.id async for b in client.batches.list(limit=2)]  # the SDK follows the cursor
    assert every == ids[::-1]


# --- the CLI -------------------------------------------------------------------------------


async def test_cli_lists_shows_and_cancels(
    mock: MockOpenAI, start_gateway: Any, tmp_path: Any
) -> None:
    import asyncio

    from typer.testing import CliRunner

    from aigw.cli import _register
    from aigw.cli import app as cli_app

    _register()
    data = tmp_path / "shared"
    gw = await start_gateway(
        mock_config(mock.url, data_dir=str(data), batches=batch_settings(concurrency=1))
    )
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"data_dir: {data}\n")

    def cli(*args: str) -> Any:
        return CliRunner().invoke(cli_app, [*args, "--config", str(cfg)])

    client = gw.openai()
    mock.hold = asyncio.Event()
    f = await client.files.create(file=("in.jsonl", chat_file(10)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    await until(lambda: mock.active == 1)

    async def queued() -> bool:
        g = await gauges(gw)
        return g["batch_lines_queued"] == 10 and g["batch_oldest_pending_seconds"] > 0

    await until(queued)  # one line in flight, nine waiting
    r = await asyncio.to_thread(cli, "batches", "list")
    assert r.exit_code == 0 and b.id in r.output and "in_progress" in r.output, r.output
    r = await asyncio.to_thread(cli, "batches", "show", b.id, "--json")
    shown = orjson.loads(r.output)
    assert shown["id"] == b.id and shown["request_counts"]["total"] == 10
    r = await asyncio.to_thread(cli, "batches", "cancel", b.id)
    assert r.exit_code == 0 and "cancelling" in r.output
    mock.hold.set()
    done = await wait_final(client.batches.retrieve, b.id)
    assert done.status == "cancelled" and done.request_counts and done.request_counts.completed == 1
    r = await asyncio.to_thread(cli, "batches", "cancel", b.id)
    assert r.exit_code == 1 and "cannot be cancelled" in r.output
    r = await asyncio.to_thread(cli, "batches", "show", "batch_nope")
    assert r.exit_code == 1 and "no batch" in r.output
    r = await asyncio.to_thread(cli, "batches", "show", b.id)
    assert r.exit_code == 0 and "cancelled" in r.output and "1/10" in r.output


async def test_an_org_keeps_a_bounded_number_of_files_and_running_batches(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    import openai

    gw = await start_gateway(
        mock_config(
            mock.url,
            batches=batch_settings(max_files_per_org=2, max_active_batches_per_org=1),
        )
    )
    client = gw.openai()
    mock.hold = asyncio.Event()
    f = await client.files.create(file=("a.jsonl", chat_file(1)), purpose="batch")
    await client.files.create(file=("b.jsonl", chat_file(1)), purpose="batch")
    with pytest.raises(openai.BadRequestError) as e:
        await client.files.create(file=("c.jsonl", chat_file(1)), purpose="batch")
    assert e.value.code == "file_limit_reached"
    await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    with pytest.raises(openai.BadRequestError) as e:
        await client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert e.value.code == "batch_limit_reached"
    mock.hold.set()


async def test_identical_lines_are_answered_by_the_cache(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    """Lines go through the cache stage like interactive requests: the same deterministic
    question twice reaches the upstream once, and an interactive request asked earlier
    answers a line."""
    gw = await start_gateway(
        mock_config(
            mock.url,
            cache={"enabled": True, "semantic": {"enabled": False}},
            batches=batch_settings(concurrency=1),
        )
    )
    client = gw.openai()
    await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "asked before"}], temperature=0
    )
    lines = [
        chat_line("a", text="same question", temperature=0),
        chat_line("b", text="same question", temperature=0),
        chat_line("c", text="asked before", temperature=0),
    ]
    f = await client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "completed"
    assert mock.count == 2  # the interactive request and line "a"
    out = parse_jsonl((await client.files.content(b.output_file_id or "")).content)
    bodies = {o["custom_id"]: o["response"]["body"] for o in out}
    a, b_, c = (bodies[k]["choices"][0]["message"]["content"] for k in "abc")
    assert a == b_ and c
    await gw.gateway.accounts.usage.flush()
    rows = await gw.gateway.accounts.store.usage_rows()
    assert sorted(r["cache"] or "" for r in rows if r["batch_id"]) == ["hit", "hit", "miss"]


async def test_lines_to_several_models_fail_over_like_requests(start_gateway: Any) -> None:
    """One batch, two models on two providers; the first provider answers 500 to everything,
    so its model's lines fail over to the second model, as an interactive request would."""
    down, up = MockOpenAI(error_rate=1.0), MockOpenAI()
    await down.start()
    await up.start()
    try:
        cfg = mock_config(
            up.url,
            providers={
                "down": {"type": "openai", "base_url": down.url, "api_key": "sk-a"},
                "up": {"type": "openai", "base_url": up.url, "api_key": "sk-b"},
            },
            models={
                "m-down": {"provider": "down", "model": "x", "fallbacks": ["m-up"]},
                "m-up": {"provider": "up", "model": "y"},
            },
            batches=batch_settings(),
        )
        gw = await start_gateway(cfg)
        client = gw.openai()
        lines = [chat_line(f"r{i}", model="m-down" if i % 2 else "m-up") for i in range(10)]
        f = await client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
        b = await client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        b = await wait_final(client.batches.retrieve, b.id)
    finally:
        await down.stop()
        await up.stop()
    assert b.status == "completed" and b.request_counts is not None
    assert b.request_counts.completed == 10 and b.model is None  # two models
    assert down.count == 5 and up.count == 10
    assert {c["body"]["model"] for c in up.calls} == {"y"}


async def test_the_gateways_rate_limit_defers_lines_and_fails_none(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    """120 requests per minute (a burst of 120, then one per 0.5 s): a batch of 124 lines
    waits for the limit instead of failing its last four."""
    import time

    gw = await start_gateway(
        mock_config(
            mock.url,
            rate_limiting={"requests_per_minute": 120},
            batches=batch_settings(concurrency=4),
        )
    )
    client = gw.openai()
    f = await client.files.create(file=("in.jsonl", chat_file(124)), purpose="batch")
    t0 = time.monotonic()
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    took = time.monotonic() - t0
    assert b.status == "completed" and b.request_counts is not None
    assert (b.request_counts.completed, b.request_counts.failed) == (124, 0)
    assert mock.count == 124
    assert took >= 1.5  # four lines past the burst, one per 0.5 s: the limit held


async def test_a_failing_upstream_is_tried_again_then_the_line_fails(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    """With max_attempts 3: a line whose upstream fails twice and then answers succeeds; a
    line whose upstream fails three times goes to the error file with the upstream's error
    (mapped to a 502, as the endpoint would answer)."""
    from aigw.bench.mock_upstream import Fail

    gw = await start_gateway(
        mock_config(mock.url, batches=batch_settings(max_attempts=3, retry_delay=0.01))
    )
    client = gw.openai()
    f = await client.files.create(file=("in.jsonl", chat_file(1)), purpose="batch")

    async def run() -> Any:
        b = await client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        return await wait_final(client.batches.retrieve, b.id)

    mock.fail(Fail(500), Fail(503))
    b = await run()
    assert b.request_counts is not None and b.request_counts.completed == 1
    assert mock.count == 3
    mock.fail(Fail(500), Fail(500), Fail(503))
    b = await run()
    assert b.request_counts is not None and b.request_counts.failed == 1
    assert mock.count == 6
    err = parse_jsonl((await client.files.content(b.error_file_id or "")).content)
    assert err[0]["response"]["status_code"] == 502
    assert "upstream error 503" in err[0]["response"]["body"]["error"]["message"]


async def test_responses_batch(mock: MockOpenAI, start_gateway: Any) -> None:
    """/v1/responses is one line in batches/endpoints.py: its lines get the Responses
    pipeline (the conversation stage, the translation to chat for this upstream) and the
    output file holds Response objects."""
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings()))
    client = gw.openai()
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-test", "input": f"question {i}", "store": False},
        }
        for i in range(3)
    ]
    f = await client.files.create(file=("resp.jsonl", jsonl(lines)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint="/v1/responses", completion_window="24h"
    )
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "completed" and b.request_counts is not None
    assert b.request_counts.completed == 3, b
    out = parse_jsonl((await client.files.content(b.output_file_id or "")).content)
    assert [o["custom_id"] for o in out] == ["r0", "r1", "r2"]
    for o in out:
        body = o["response"]["body"]
        assert body["object"] == "response" and body["status"] == "completed"
        assert body["output"][0]["content"][0]["text"]
