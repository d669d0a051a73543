"""GET /v1/admin/overview, /v1/admin/requests and /v1/admin/audit on SQLite and PostgreSQL,
through the real server in front of the mock upstream."""

from __future__ import annotations

from typing import Any

from aigw.bench.mock_upstream import Fail
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import accounts_config, new_key

PRICES = {"prices": {"gpt-test": {"input": 2.0, "output": 8.0}}}


async def chat(gw: Any, key: str, text: str, model: str = "gpt-test") -> int:
    async with gw.http.post(
        gw.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        await r.read()
        return r.status


async def get(gw: Any, path: str, admin: dict[str, str]) -> tuple[int, Any]:
    async with gw.http.get(gw.url + path, headers=admin) as r:
        return r.status, await r.json()


async def test_requests_overview_and_filters(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url, billing=PRICES))
    a = await new_key(gw, admin, org="acme")
    b = await new_key(gw, admin, org="globex")
    assert await chat(gw, a["key"], "one") == 200
    assert await chat(gw, a["key"], "two") == 200
    mock.fail(Fail(status=400, body={"error": {"message": "bad", "type": "invalid_request_error"}}))
    assert await chat(gw, b["key"], "three") == 400

    status, page = await get(gw, "/v1/admin/requests", admin)
    assert status == 200 and page["log_prompts"] is False
    rows = page["data"]
    assert [r["org"] for r in rows] == ["globex", "acme", "acme"]  # newest first
    first = rows[-1]
    assert first["key_prefix"] == a["prefix"] and first["key_id"] == a["id"]
    assert first["model"] == "gpt-test" and first["provider"] == "mock"
    assert first["status"] == 200 and first["cost_usd"] > 0 and first["request_id"]
    assert "prompt" not in first  # log_prompts is off
    assert rows[0]["status"] == 400

    _, page = await get(gw, "/v1/admin/requests?org=acme", admin)
    assert {r["org"] for r in page["data"]} == {"acme"} and len(page["data"]) == 2
    _, page = await get(gw, f"/v1/admin/requests?key={b['id']}", admin)
    assert [r["key_id"] for r in page["data"]] == [b["id"]]
    _, page = await get(gw, "/v1/admin/requests?status=error", admin)
    assert [r["status"] for r in page["data"]] == [400]
    _, page = await get(gw, "/v1/admin/requests?model=other", admin)
    assert page["data"] == []
    # Paging: one row at a time, each page older than the last.
    _, p1 = await get(gw, "/v1/admin/requests?limit=1", admin)
    assert p1["has_more"] is True
    _, p2 = await get(gw, f"/v1/admin/requests?limit=1&before={p1['data'][0]['id']}", admin)
    assert p2["data"][0]["id"] == rows[1]["id"]

    status, o = await get(gw, "/v1/admin/overview", admin)
    assert status == 200
    for period in ("today", "last_7_days"):
        p = o[period]
        assert p["requests"] == 3 and p["errors"] == 1
        assert p["latency_ms"]["sample"] == 3 and p["latency_ms"]["p50"] is not None
        assert p["latency_ms"]["p99"] >= p["latency_ms"]["p50"]
        assert p["cost_usd"] > 0 and p["cache_hit_rate"] == 0.0
    assert sum(r["requests"] for r in o["by_day"]) == 3


async def test_bad_query_is_a_400(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url))
    for q in (
        "/v1/admin/requests?limit=0",
        "/v1/admin/requests?limit=501",
        "/v1/admin/requests?limit=x",
        "/v1/admin/requests?status=ok",
        "/v1/admin/requests?org=a%20b",
        "/v1/admin/audit?before=-1",
        "/v1/admin/audit?action=%27;drop",
    ):
        status, body = await get(gw, q, admin)
        assert status == 400, q
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"]


async def test_audit_log_reads_key_changes(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url))
    k = await new_key(gw, admin, org="acme", name="svc")
    async with gw.http.post(gw.url + f"/v1/admin/api-keys/{k['id']}/rotate", headers=admin) as r:
        assert r.status == 201
        new = await r.json()
    async with gw.http.delete(gw.url + f"/v1/admin/api-keys/{new['id']}", headers=admin) as r:
        assert r.status == 200
    status, page = await get(gw, "/v1/admin/audit", admin)
    assert status == 200
    assert [e["action"] for e in page["data"]] == ["keys.revoke", "keys.rotate", "keys.create"]
    assert page["data"][2]["target"] == k["id"] and page["data"][2]["actor"] == "admin_key:admin"
    assert page["data"][2]["detail"] == {"org": "acme", "name": "svc"}
    _, only = await get(gw, "/v1/admin/audit?action=keys.rotate", admin)
    assert [e["action"] for e in only["data"]] == ["keys.rotate"]
    _, older = await get(gw, f"/v1/admin/audit?before={page['data'][1]['id']}", admin)
    assert [e["action"] for e in older["data"]] == ["keys.create"]
    assert k["key"] not in str(page)  # the audit log never holds a key


async def test_prompts_only_with_log_prompts(
    mock: Any, start_gateway: Any, db_url: str, store: Any, admin: dict[str, str]
) -> None:
    gw = await start_gateway(
        accounts_config(mock.url, db_url, logging={"level": "warning", "log_prompts": True})
    )
    k = await new_key(gw, admin)
    assert await chat(gw, k["key"], "what is in the box?") == 200
    _, page = await get(gw, "/v1/admin/requests", admin)
    assert page["log_prompts"] is True
    row = page["data"][0]
    assert "what is in the box?" in row["prompt"]
    assert row["answer"] and "mock upstream" in row["answer"]
