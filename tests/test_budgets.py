"""Budgets and quotas on SQLite and PostgreSQL: 50 concurrent requests against a budget
that allows 10 -> at most 10 admitted; org budgets; token quotas; seeded from past usage."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from aigw.store import Store
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import accounts_config, new_key

MSGS = [{"role": "user", "content": "hi"}]
# $1 per 1M output tokens, input free: max_tokens=100 reserves $0.0001 exactly.
PRICES = {"gpt-test": {"input": 0.0, "output": 1.0}}


async def until(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
async def test_fifty_concurrent_against_a_budget_for_ten(
    store: Store,
    db_url: str,
    mock: Any,
    start_gateway: Any,
    admin: dict[str, str],
    shared: bool,
) -> None:
    billing = {"prices": PRICES, "shared_budgets": shared}
    gw = await start_gateway(accounts_config(mock.url, db_url, billing=billing))
    key = (await new_key(gw, admin, budget={"usd_per_day": 10 * 0.0001}))["key"]
    client = gw.openai(key)
    mock.hold = asyncio.Event()  # every admitted request stays in flight
    refused: list[openai.RateLimitError] = []

    async def one() -> None:
        try:
            await client.chat.completions.create(model="gpt-test", messages=MSGS, max_tokens=100)
        except openai.RateLimitError as e:
            refused.append(e)

    tasks = [asyncio.create_task(one()) for _ in range(50)]
    await until(lambda: len(refused) + mock.active == 50)
    assert mock.active == 10 and len(refused) == 40
    mock.hold.set()
    await asyncio.gather(*tasks)
    e = refused[0]
    assert e.status_code == 429 and e.code == "insufficient_quota"
    assert e.type == "insufficient_quota" and "budget of $0.00 per day" in e.message
    assert mock.count == 10


async def test_two_gateways_share_one_budget(
    store: Store, db_url: str, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    """Two instances (or workers) on one database: still at most 10 of 50."""
    cfg = accounts_config(mock.url, db_url, billing={"prices": PRICES})
    gws = [await start_gateway(cfg), await start_gateway(cfg)]
    key = (await new_key(gws[0], admin, budget={"usd_per_day": 10 * 0.0001}))["key"]
    clients = [g.openai(key) for g in gws]
    mock.hold = asyncio.Event()
    refused: list[openai.RateLimitError] = []

    async def one(i: int) -> None:
        try:
            await clients[i % 2].chat.completions.create(
                model="gpt-test", messages=MSGS, max_tokens=100
            )
        except openai.RateLimitError as e:
            refused.append(e)

    tasks = [asyncio.create_task(one(i)) for i in range(50)]
    await until(lambda: len(refused) + mock.active == 50, timeout=30)
    assert mock.active == 10 and len(refused) == 40
    mock.hold.set()
    await asyncio.gather(*tasks)
    for g in gws:  # settlement runs after the answer was sent
        await asyncio.gather(*g.gateway._background)
    assert await store.fetch("SELECT * FROM budget_holds") == []  # all settled
    (spent,) = await store.fetch("SELECT spent_usd FROM budget_ledger")
    assert 0 < float(spent[0]) <= 10 * 0.0001


async def test_org_budget_and_token_quota(
    store: Store, db_url: str, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    # Past spending in the usage table counts: the org has $0.0004 of $0.0005 left... used.
    await store.insert_usage(
        [
            {
                "id": "past-1",
                "request_id": "past-1",
                "ts": time.time() - 1,
                "org_id": "acme",
                "model": "gpt-test",
                "endpoint": "chat",
                "prompt_tokens": 0,
                "completion_tokens": 400,
                "cost_usd": 0.0004,
                "status": 200,
            }
        ]
    )
    cfg = accounts_config(
        mock.url,
        db_url,
        billing={"prices": PRICES, "budgets": {"acme": {"usd_per_month": 0.0005}}},
    )
    gw = await start_gateway(cfg)
    key = (await new_key(gw, admin))["key"]
    client = gw.openai(key)
    with pytest.raises(openai.RateLimitError) as ei:  # would need $0.0002: over
        await client.chat.completions.create(model="gpt-test", messages=MSGS, max_tokens=200)
    assert "organization's budget" in ei.value.message and "per month" in ei.value.message
    await client.chat.completions.create(model="gpt-test", messages=MSGS, max_tokens=50)

    # A token quota per key, settled to real usage: small requests keep fitting.
    other = (await new_key(gw, admin, org="beta", budget={"tokens_per_day": 300}))["key"]
    c2 = gw.openai(other)
    with pytest.raises(openai.RateLimitError) as ei:
        await c2.chat.completions.create(model="gpt-test", messages=MSGS, max_tokens=400)
    assert "quota of 300 tokens per day" in ei.value.message
    used = 0
    for _ in range(3):
        r = await c2.chat.completions.create(model="gpt-test", messages=MSGS, max_tokens=20)
        used += r.usage.total_tokens
    assert used < 300  # reserved 20 + estimate each time, settled to the real count
    assert mock.count == 4

    async with gw.http.post(
        gw.url + "/v1/admin/api-keys",
        json={"org": "acme", "budget": {"usd_per_week": 5}},
        headers=admin,
    ) as r:
        assert r.status == 400 and "usd_per_week" in (await r.json())["error"]["message"]


async def test_unknown_usage_after_dispatch_counts_the_worst_case(store: Store) -> None:
    from aigw import config as configmod
    from aigw.auth.authenticator import KeyPrincipal
    from aigw.billing.budgets import BudgetStage
    from aigw.billing.cost import Pricer
    from aigw.pipeline import JSONResult, RequestContext

    cfg = configmod.from_dict({"billing": {"prices": PRICES}})
    stage = BudgetStage(cfg, store, Pricer(cfg))
    p = KeyPrincipal(org_id="acme", key_id="k1", budget={"usd_per_day": 1.0})
    body = {"model": "gpt-test", "messages": MSGS, "max_tokens": 1000}

    async def dispatched(ctx: RequestContext) -> JSONResult:
        ctx.provider = "mock"  # reached the upstream ...
        return JSONResult({})  # ... but no usage came back (client left mid-stream)

    async def spent() -> float:
        rows = await store.fetch("SELECT spent_usd FROM budget_ledger")
        return float(rows[0][0]) if rows else 0.0

    for status, expect in ((499, 0.001), (502, 0.0)):
        ctx = RequestContext("r", "chat", body, {}, "gpt-test", principal=p)
        await stage.handle(ctx, dispatched)
        ctx.status = status
        before = await spent()
        await ctx.finish()
        assert await spent() - before == pytest.approx(expect)
        assert await store.fetch("SELECT * FROM budget_holds") == []


async def test_database_down_falls_back_to_this_process(store: Store) -> None:
    from aigw import config as configmod
    from aigw.auth.authenticator import KeyPrincipal
    from aigw.billing.budgets import BudgetStage
    from aigw.billing.cost import Pricer
    from aigw.pipeline import JSONResult, RequestContext
    from aigw.types import GatewayError, Usage

    cfg = configmod.from_dict({"billing": {"prices": PRICES}})
    stage = BudgetStage(cfg, store, Pricer(cfg))
    p = KeyPrincipal(org_id="acme", key_id="k2", budget={"usd_per_day": 0.0003})
    body = {"model": "gpt-test", "messages": MSGS, "max_tokens": 100}
    inner = store._pool if store.dialect == "postgres" else store._db  # type: ignore[attr-defined]
    # The database goes away: the stage keeps enforcing, in this process.
    if store.dialect == "postgres":
        store._pool = None  # type: ignore[attr-defined]
    else:
        store._db = None  # type: ignore[attr-defined]

    async def answer(ctx: RequestContext) -> JSONResult:
        ctx.provider, ctx.usage = "mock", Usage(prompt_tokens=1, completion_tokens=100)
        return JSONResult({})

    admitted = 0
    for _ in range(5):
        ctx = RequestContext("r", "chat", body, {}, "gpt-test", principal=p)
        try:
            await stage.handle(ctx, answer)
        except GatewayError as e:
            assert e.status == 429 and e.code == "insufficient_quota"
            continue
        admitted += 1
        ctx.status = 200
        await ctx.finish()
    assert admitted == 3  # $0.0001 each against $0.0003
    if store.dialect == "postgres":
        store._pool = inner  # type: ignore[attr-defined]
    else:
        store._db = inner  # type: ignore[attr-defined]


async def test_auto_routed_requests_reserve_the_routed_models_price(
    store: Store, db_url: str, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    # "auto" has no price of its own: the budget must see the model the router picked.
    models = {
        "strong-m": {"provider": "mock", "model": "upstream-strong"},
        "cheap-m": {"provider": "mock", "model": "upstream-cheap"},
    }
    prices = {"strong-m": {"input": 0.0, "output": 1.0}, "cheap-m": {"input": 0.0, "output": 1.0}}
    routers = {"auto": {"strong": "strong-m", "cheap": "cheap-m", "scorer": "heuristic"}}
    cfg = accounts_config(
        mock.url, db_url, models=models, routers=routers, billing={"prices": prices}
    )
    gw = await start_gateway(cfg)
    key = (await new_key(gw, admin, budget={"usd_per_day": 0.00015}))["key"]
    client = gw.openai(key)
    # max_tokens=100 at $1/1M output reserves $0.0001: the first fits, a second would not
    # while the first is in flight.
    mock.hold = asyncio.Event()
    first = asyncio.create_task(
        client.chat.completions.create(model="auto", messages=MSGS, max_tokens=100)
    )
    await until(lambda: mock.active == 1)
    with pytest.raises(openai.RateLimitError) as e:
        await client.chat.completions.create(model="auto", messages=MSGS, max_tokens=100)
    assert e.value.code == "insufficient_quota"
    mock.hold.set()
    await first
    assert mock.count == 1
