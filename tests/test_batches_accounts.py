"""Batches with real keys, on SQLite and PostgreSQL: organisations see only their own files
and batches, lines run as the key that created the batch (its budget, its revocation), and a
cancelled batch keeps what was done."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from aigw.bench.mock_upstream import MockOpenAI
from aigw.store import Store
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import accounts_config, new_key
from tests.helpers_batches import (
    batch_settings,
    chat_file,
    chat_line,
    jsonl,
    parse_jsonl,
    wait_final,
)
from tests.helpers_limits import until

PRICES = {"gpt-test": {"input": 0.0, "output": 1.0}}  # $1 per 1M output tokens


async def _start(
    client: openai.AsyncOpenAI, data: bytes, endpoint: str = "/v1/chat/completions"
) -> Any:
    f = await client.files.create(file=("in.jsonl", data), purpose="batch")
    return await client.batches.create(
        input_file_id=f.id,
        endpoint=endpoint,
        completion_window="24h",  # type: ignore[arg-type]
    )


async def test_another_orgs_ids_are_not_found(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url, batches=batch_settings()))
    acme = gw.openai((await new_key(gw, admin, org="acme"))["key"])
    other = gw.openai((await new_key(gw, admin, org="other"))["key"])
    b = await _start(acme, chat_file(2))
    b = await wait_final(acme.batches.retrieve, b.id)
    assert b.status == "completed"
    for call in (
        lambda: other.files.retrieve(b.input_file_id),
        lambda: other.files.content(b.input_file_id),
        lambda: other.files.delete(b.input_file_id),
        lambda: other.batches.retrieve(b.id),
        lambda: other.batches.cancel(b.id),
    ):
        with pytest.raises(openai.NotFoundError):
            await call()
    with pytest.raises(openai.BadRequestError):  # another org's file as a batch's input
        await other.batches.create(
            input_file_id=b.input_file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert (await other.batches.list()).data == []
    assert (await other.files.list()).data == []
    assert len((await acme.files.list()).data) == 2  # the input and the output
    anonymous = gw.openai("sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        await anonymous.batches.list()


async def test_budget_runs_out_mid_batch(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    """Each line reserves $0.0001 (max_tokens 100) and costs its real output tokens: the key's
    $0.0005 lasts for some lines; the rest fail with insufficient_quota, none silently."""
    gw = await start_gateway(
        accounts_config(
            mock.url, db_url, billing={"prices": PRICES}, batches=batch_settings(concurrency=1)
        )
    )
    client = gw.openai((await new_key(gw, admin, budget={"usd_per_day": 5 * 0.0001}))["key"])
    n = 200
    data = jsonl([chat_line(f"r{i}", max_tokens=100) for i in range(n)])
    b = await wait_final(client.batches.retrieve, (await _start(client, data)).id)
    assert b.status == "completed" and b.request_counts is not None
    done, failed = b.request_counts.completed, b.request_counts.failed
    assert 0 < done < n and done + failed == n
    assert mock.count == done  # nothing ran past the budget
    out = parse_jsonl((await client.files.content(b.output_file_id or "")).content)
    err = parse_jsonl((await client.files.content(b.error_file_id or "")).content)
    assert [o["custom_id"] for o in out] == [f"r{i}" for i in range(done)], [
        (e["custom_id"], (e["response"] or {}).get("status_code"), (e["error"] or {}).get("code"))
        for e in err
    ]
    assert [e["custom_id"] for e in err] == [f"r{i}" for i in range(done, n)]
    first, rest = err[0], err[1:]
    assert first["response"]["status_code"] == 429
    assert first["response"]["body"]["error"]["code"] == "insufficient_quota"
    assert all(e["response"] is None and e["error"]["code"] == "insufficient_quota" for e in rest)


async def test_revoked_key_fails_the_rest(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(
        accounts_config(
            mock.url, db_url, auth={"key_cache_ttl": 0}, batches=batch_settings(concurrency=1)
        )
    )
    k = await new_key(gw, admin)
    client = gw.openai(k["key"])
    mock.hold = asyncio.Event()
    b = await _start(client, chat_file(30))
    await until(lambda: mock.active == 1)  # the first line is in flight
    async with gw.http.delete(gw.url + f"/v1/admin/api-keys/{k['id']}", headers=admin) as r:
        assert r.status in (200, 204)
    mock.hold.set()
    b = await wait_final(gw.openai(admin["Authorization"][7:]).batches.retrieve, b.id, 60)
    assert b.status == "completed" and b.request_counts is not None
    # The line in flight finishes; every later one is refused as the key would be.
    err = parse_jsonl(
        (await gw.openai(admin["Authorization"][7:]).files.content(b.error_file_id or "")).content
    )
    assert err and all(e["response"]["status_code"] == 401 for e in err)
    assert err[-1]["response"]["body"]["error"]["code"] == "key_revoked"
    assert mock.count == b.request_counts.completed == 1


async def test_cancel_keeps_what_was_done(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(
        accounts_config(mock.url, db_url, batches=batch_settings(concurrency=2))
    )
    client = gw.openai((await new_key(gw, admin))["key"])
    mock.hold = asyncio.Event()
    b = await _start(client, chat_file(50))
    await until(lambda: mock.active == 2)
    c = await client.batches.cancel(b.id)
    assert c.status == "cancelling" and c.cancelling_at
    mock.hold.set()
    c = await wait_final(client.batches.retrieve, b.id)
    assert c.status == "cancelled" and c.cancelled_at and c.request_counts is not None
    assert c.request_counts.total == 50 and c.request_counts.completed == mock.count == 2
    out = parse_jsonl((await client.files.content(c.output_file_id or "")).content)
    assert [o["custom_id"] for o in out] == ["req-0", "req-1"]
    with pytest.raises(openai.ConflictError):
        await client.batches.cancel(b.id)


async def test_expired_batch_fails_its_remaining_lines(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(
        accounts_config(mock.url, db_url, batches=batch_settings(concurrency=1))
    )
    client = gw.openai((await new_key(gw, admin))["key"])
    mock.hold = asyncio.Event()
    b = await _start(client, chat_file(10))
    await until(lambda: mock.active == 1)
    # The completion window ends now (as 24 hours later).
    await gw.gateway.accounts.store.execute("UPDATE batches SET expires_at = 0 WHERE id = ?", b.id)
    mock.hold.set()
    b = await wait_final(client.batches.retrieve, b.id)
    assert b.status == "expired" and b.expired_at and b.request_counts is not None
    # The line in flight finishes; every line not yet run fails as expired. (On a loaded
    # machine the worker may have taken the next line before the window was moved: it runs
    # too, so count what ran rather than assume exactly one.)
    done, failed = b.request_counts.completed, b.request_counts.failed
    assert done >= 1 and done + failed == 10 and failed >= 8 and mock.count == done
    err = parse_jsonl((await client.files.content(b.error_file_id or "")).content)
    assert {e["error"]["code"] for e in err} == {"batch_expired"} and len(err) == failed


async def test_cancel_finishes_although_a_dead_worker_held_lines(
    store: Store, db_url: str, mock: MockOpenAI, start_gateway: Any, admin: dict[str, str]
) -> None:
    """Lines claimed by a worker that died (its lease over) must not keep a cancelled batch
    in `cancelling` for ever: nobody claims lines of a cancelled batch again."""
    import time

    gw = await start_gateway(
        accounts_config(mock.url, db_url, batches=batch_settings(concurrency=1))
    )
    client = gw.openai((await new_key(gw, admin))["key"])
    mock.hold = asyncio.Event()
    b = await _start(client, chat_file(20))
    await until(lambda: mock.active == 1)
    bstore = gw.gateway.batches.store
    taken = await bstore.claim(b.id, "w-dead", 5, time.time(), -1.0, reclaim=False)
    assert len(taken) == 5  # held by a worker whose lease is already over
    await client.batches.cancel(b.id)
    mock.hold.set()
    c = await wait_final(client.batches.retrieve, b.id)
    assert c.status == "cancelled" and c.request_counts is not None
    assert c.request_counts.completed == 1 and c.request_counts.failed == 0
