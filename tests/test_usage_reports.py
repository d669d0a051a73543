"""GET /v1/usage, /v1/usage/costs and `aigw usage`, on SQLite and PostgreSQL: totals and
groups, date filters, callers see only their own usage, admins any org or key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app
from aigw.store import Store
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import accounts_config

_register()
PRICES = {"gpt-test": {"input": 2.0, "output": 4.0}, "embed-test": {"input": 1.0, "output": 0}}
T_OLD = 1_700_000_000.0  # 2023-11-14


async def test_usage_api_and_cli(
    store: Store,
    db_url: str,
    mock: Any,
    start_gateway: Any,
    admin: dict[str, str],
    tmp_path: Path,
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url, billing={"prices": PRICES}))
    keys = {}
    for org in ("acme", "beta"):
        async with gw.http.post(
            gw.url + "/v1/admin/api-keys", json={"org": org}, headers=admin
        ) as r:
            keys[org] = await r.json()
    acme = gw.openai(keys["acme"]["key"])
    chats = [
        await acme.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "a b c"}]
        )
        for _ in range(2)
    ]
    emb = await acme.embeddings.create(model="embed-test", input="hello world")
    await gw.openai(keys["beta"]["key"]).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}]
    )
    # An old record, outside a date filter.
    await store.insert_usage(
        [
            {
                "id": "old",
                "request_id": "old",
                "ts": T_OLD,
                "org_id": "acme",
                "key_id": keys["acme"]["id"],
                "model": "gpt-test",
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "cost_usd": 1.0,
                "status": 200,
            }
        ]
    )
    auth = {"Authorization": f"Bearer {keys['acme']['key']}"}

    prompt = sum(c.usage.prompt_tokens for c in chats)
    completion = sum(c.usage.completion_tokens for c in chats)
    chat_cost = (prompt * 2.0 + completion * 4.0) / 1e6
    emb_cost = emb.usage.prompt_tokens * 1.0 / 1e6
    today = time.strftime("%Y-%m-%d", time.gmtime())

    async with gw.http.get(gw.url + "/v1/usage?start=2024-01-01", headers=auth) as r:
        assert r.status == 200, await r.text()
        u = await r.json()
    assert u["org"] == "acme" and u["key"] == keys["acme"]["id"]
    assert u["totals"]["requests"] == 3
    assert u["totals"]["cost_usd"] == pytest.approx(chat_cost + emb_cost)
    by_model = {r["model"]: r for r in u["by_model"]}
    assert by_model["gpt-test"]["prompt_tokens"] == prompt
    assert by_model["gpt-test"]["completion_tokens"] == completion
    assert by_model["embed-test"]["cost_usd"] == pytest.approx(emb_cost)
    assert [d["day"] for d in u["by_day"]] == [today]

    async with gw.http.get(gw.url + "/v1/usage", headers=auth) as r:
        everything = await r.json()  # no filter: the old record too
    assert everything["totals"]["requests"] == 4
    assert [d["day"] for d in everything["by_day"]] == ["2023-11-14", today]

    async with gw.http.get(
        gw.url + "/v1/usage/costs?start=2023-11-14&end=2023-11-14", headers=auth
    ) as r:
        c = await r.json()
    assert c["object"] == "costs" and c["totals"] == {
        "requests": 1,
        "cost_usd": 1.0,
        "saved_usd": 0.0,
    }

    # Someone else's usage: refused; admins may ask for any org and group by org/key.
    async with gw.http.get(gw.url + "/v1/usage?org=beta", headers=auth) as r:
        assert r.status == 403
    async with gw.http.get(gw.url + "/v1/usage?group_by=org", headers=auth) as r:
        assert r.status == 400
    async with gw.http.get(gw.url + "/v1/usage?start=yesterday-ish", headers=auth) as r:
        assert r.status == 400
    async with gw.http.get(gw.url + "/v1/usage?group_by=org&start=2024-01-01", headers=admin) as r:
        by_org = {x["org"]: x["requests"] for x in (await r.json())["by_org"]}
    assert by_org == {"acme": 3, "beta": 1}
    async with gw.http.get(gw.url + "/v1/usage/costs?org=beta", headers=admin) as r:
        assert (await r.json())["totals"]["requests"] == 1

    # The CLI reads the same database.
    cfg = tmp_path / "cli.yaml"
    cfg.write_text(f"database: {db_url}\ndata_dir: {tmp_path}\n")

    def cli(*args: str) -> str:
        res = CliRunner().invoke(cli_app, ["usage", *args, "--config", str(cfg)])
        assert res.exit_code == 0, res.output
        return res.stdout

    data = orjson.loads(
        await asyncio.to_thread(cli, "--org", "acme", "--since", "2024-01-01", "--json")
    )
    assert data["totals"]["requests"] == 3
    assert {r["model"] for r in data["by_model"]} == {"gpt-test", "embed-test"}
    table = await asyncio.to_thread(cli, "--by", "org")
    assert "acme" in table and "beta" in table and "total" in table
    data = orjson.loads(
        await asyncio.to_thread(cli, "--by", "day", "--until", "2023-11-14", "--json")
    )
    assert [d["day"] for d in data["by_day"]] == ["2023-11-14"]


async def test_refused_requests_are_told_apart(
    store: Store,
    db_url: str,
    mock: Any,
    start_gateway: Any,
    admin: dict[str, str],
    tmp_path: Path,
) -> None:
    """A 429 or a 404 is recorded as a request, and the report says it was refused."""
    gw = await start_gateway(accounts_config(mock.url, db_url, billing={"prices": PRICES}))
    async with gw.http.post(
        gw.url + "/v1/admin/api-keys",
        json={"org": "acme", "limits": {"requests_per_minute": 3}},
        headers=admin,
    ) as r:
        key = (await r.json())["key"]
    auth = {"Authorization": f"Bearer {key}"}
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    statuses = []
    for model in ("gpt-test", "no-such-model", "gpt-test", "gpt-test"):
        async with gw.http.post(
            gw.url + "/v1/chat/completions", json={**body, "model": model}, headers=auth
        ) as r:
            statuses.append(r.status)
    assert statuses == [200, 404, 200, 429]
    async with gw.http.get(gw.url + "/v1/usage", headers=auth) as r:  # after the writer's flush
        api = (await r.json())["totals"]
    assert (api["requests"], api["answered"], api["refused"], api["failed"]) == (4, 2, 2, 0)

    cfg = tmp_path / "cli.yaml"
    cfg.write_text(f"database: {db_url}\ndata_dir: {tmp_path}\n")

    def cli(*args: str) -> str:
        res = CliRunner().invoke(cli_app, ["usage", *args, "--config", str(cfg)])
        assert res.exit_code == 0, res.output
        return res.stdout

    data = orjson.loads(await asyncio.to_thread(cli, "--json"))
    t = data["totals"]
    assert (t["requests"], t["answered"], t["refused"], t["failed"]) == (4, 2, 2, 0)
    table = await asyncio.to_thread(cli)
    assert "answered" in table and "refused 4xx" in table and "failed 5xx" in table
    total_row = next(line for line in table.splitlines() if "total" in line)
    cells = [c.strip() for c in total_row.split("│") if c.strip()]
    assert cells[:5] == ["total", "4", "2", "2", "0"]
