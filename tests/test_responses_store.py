"""The Responses conversation store on SQLite and PostgreSQL: organisation scoping (another
org's id is a 404), retention and its sweep, size bounds, chains across turns."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from aigw.responses.settings import ResponsesConfig
from aigw.responses.store import ResponsesStore
from aigw.store import Store
from tests.helpers_accounts import *  # noqa: F403  (fixtures: admin, dialect, db_url, store)
from tests.helpers_accounts import accounts_config, new_key


def _response(rid: str, text: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"text": text}]}],
    }


def _input(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


async def test_other_orgs_ids_are_404(
    db_url: str, store: Store, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    """`store`: the database, migrated (the gateway does not migrate PostgreSQL); asked for
    before the gateway, so the gateway stops before the database is dropped."""
    gw = await start_gateway(accounts_config(mock.url, db_url))
    a = gw.openai(api_key=(await new_key(gw, admin, org="acme"))["key"])
    b = gw.openai(api_key=(await new_key(gw, admin, org="globex"))["key"])
    r = await a.responses.create(model="gpt-test", input="mine")
    assert (await a.responses.retrieve(r.id)).output_text == mock.text
    with pytest.raises(openai.NotFoundError):
        await b.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        await b.responses.input_items.list(r.id)
    with pytest.raises(openai.NotFoundError):
        await b.responses.delete(r.id)
    with pytest.raises(openai.BadRequestError) as e:
        await b.responses.create(model="gpt-test", input="x", previous_response_id=r.id)
    assert e.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert (await a.responses.retrieve(r.id)).id == r.id  # B's delete did nothing
    anon = await gw.http.get(gw.url + f"/v1/responses/{r.id}")
    assert anon.status == 401


async def test_chain_retention_sweep_and_size(store: Store) -> None:
    rs = ResponsesStore(store, ResponsesConfig(max_turns=3, max_stored_bytes=2000))
    prev = None
    for n in range(5):
        assert await rs.put("acme", _response(f"resp_{n}", f"a{n}"), _input(f"q{n}"), prev)
        prev = f"resp_{n}"
    items = await rs.history("acme", "resp_4")  # three turns back at most, oldest first
    texts = [i["content"][0]["text"] for i in items]
    assert texts == ["q2", "a2", "q3", "a3", "q4", "a4"]
    one_turn = sum(
        len(r[0]) + len(r[1])
        for r in await store.fetch("SELECT input, response FROM responses WHERE id = ?", "resp_4")
    )
    small = ResponsesStore(store, ResponsesConfig(max_history_bytes=2 * one_turn))
    texts = [i["content"][0]["text"] for i in await small.history("acme", "resp_4")]
    assert texts == ["q3", "a3", "q4", "a4"]  # the size bound leaves the oldest out
    with pytest.raises(Exception) as e:
        await rs.history("globex", "resp_4")
    assert getattr(e.value, "status", None) == 400
    assert not await rs.put("acme", _response("resp_big", "x" * 3000), [], None)
    assert await store.fetch("SELECT id FROM responses WHERE id = ?", "resp_big") == []
    gone = ResponsesStore(store, ResponsesConfig(retention=0))
    assert await gone.put("acme", _response("resp_old", "old"), [], None)
    with pytest.raises(Exception) as nf:
        await gone.get("acme", "resp_old")  # expired: a 404 before the sweep ran
    assert getattr(nf.value, "status", None) == 404
    await gone.sweep()
    ids = {r[0] for r in await store.fetch("SELECT id FROM responses")}
    assert "resp_old" not in ids and "resp_4" in ids


async def test_usage_cost_and_limits_apply(
    tmp_path: Any, mock: Any, start_gateway: Any, admin: dict[str, str]
) -> None:
    """A Responses call is recorded, priced and rate limited as a chat call is: natively
    (usage read from OpenAI's own response) and translated (the chat answer's usage)."""
    cfg = accounts_config(
        mock.url,
        f"sqlite:///{tmp_path}/s.db",
        billing={"prices": {"gpt-test": {"input": 2.0, "output": 8.0}}},
        rate_limiting={"enabled": True, "key": {"requests_per_minute": 2}},
    )
    cfg["providers"]["native"] = {**cfg["providers"]["mock"], "native_responses": True}
    cfg["models"]["gpt-native"] = {"provider": "native", "model": "upstream-model"}
    cfg["billing"]["prices"]["gpt-native"] = {"input": 2.0, "output": 8.0}
    gw = await start_gateway(cfg)
    client = gw.openai((await new_key(gw, admin))["key"])
    rows = []
    for model, rid in (("gpt-test", "tr-1"), ("gpt-native", "nat-1")):
        r = await client.responses.create(
            model=model, input="price me", extra_headers={"X-Request-ID": rid}
        )
        assert await gw.gateway.accounts.usage.flush()
        (row,) = await gw.gateway.accounts.store.usage_rows(rid)
        assert r.usage is not None
        price = (r.usage.input_tokens * 2.0 + r.usage.output_tokens * 8.0) / 1e6
        assert row["prompt_tokens"] == r.usage.input_tokens
        assert row["completion_tokens"] == r.usage.output_tokens
        assert row["cost_usd"] == pytest.approx(price) and row["cost_usd"] > 0
        assert row["endpoint"] == "responses" and row["model"] == model
        rows.append(row)
    assert [c["path"] for c in mock.calls] == ["/v1/chat/completions", "/v1/responses"]
    with pytest.raises(openai.RateLimitError):  # the key's 2 requests a minute are spent
        await client.responses.create(model="gpt-test", input="again")
