"""API keys through the CLI and the admin API, on SQLite and PostgreSQL: hashes at rest,
401 for unknown/expired/revoked keys, 403 for scopes and models, rotation, the key cache."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app
from aigw.store import Store
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)
from tests.helpers_accounts import ADMIN_KEY, FakeClock, accounts_config, all_table_text

_register()
MSGS = [{"role": "user", "content": "hello there"}]


def _cli(cfg_path: Path, *args: str) -> Any:
    r = CliRunner().invoke(cli_app, [*args, "--config", str(cfg_path)])
    assert r.exit_code == 0, r.output
    return r


def test_cli_lifecycle(db_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"database: {db_url}\ndata_dir: {tmp_path}\n")
    if not db_url.startswith("sqlite"):
        _cli(cfg, "migrate", "up")  # PostgreSQL is never migrated implicitly
    r = _cli(
        cfg,
        "keys",
        "create",
        "--org",
        "acme",
        "--user",
        "alice",
        "--name",
        "ci",
        "--models",
        "gpt-test,embed-test",
        "--expires",
        "30d",
        "--limit",
        "requests_per_minute=60",
        "--budget-day",
        "2.5",
        "--json",
    )
    created = orjson.loads(r.stdout)
    assert created["limits"] == {"requests_per_minute": 60}
    assert created["budget"] == {"usd_per_day": 2.5}
    key = created["key"]
    assert key.startswith("aigw_") and len(key) > 40
    assert created["prefix"] == key[:12] and created["models"] == ["embed-test", "gpt-test"]
    assert created["expires_at"] > time.time() + 29 * 86400

    r = _cli(cfg, "keys", "list")
    assert created["id"] in r.stdout and key not in r.stdout and "active" in r.stdout
    listed = orjson.loads(_cli(cfg, "keys", "list", "--json", "--org", "acme").stdout)
    assert [k["id"] for k in listed] == [created["id"]] and "key_hash" not in listed[0]

    r = _cli(cfg, "keys", "rotate", created["prefix"], "--grace", "1h", "--json")
    rotated = orjson.loads(r.stdout)
    assert rotated["key"] != key and rotated["old"]["replaced_by"] == rotated["id"]
    assert rotated["old"]["expires_at"] <= time.time() + 3601
    assert rotated["models"] == created["models"] and rotated["user"] == "alice"

    r = _cli(cfg, "keys", "revoke", created["id"])
    assert f"revoked {created['id']}" in r.stdout
    statuses = {
        k["id"]: k["status"] for k in orjson.loads(_cli(cfg, "keys", "list", "--json").stdout)
    }
    assert statuses == {created["id"]: "revoked", rotated["id"]: "active"}

    r = CliRunner().invoke(cli_app, ["keys", "revoke", "aigw_nope", "--config", str(cfg)])
    assert r.exit_code == 1 and "no key" in r.output

    async def dump() -> str:
        from aigw import config as configmod
        from aigw.store import open_store

        s = open_store(configmod.load(cfg))
        await s.connect()
        try:
            return await all_table_text(s)
        finally:
            await s.close()

    text = asyncio.run(dump())
    assert created["prefix"] in text  # the prefix is stored ...
    assert key not in text and rotated["key"] not in text  # ... the key never


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AIGW_ADMIN_KEY", ADMIN_KEY)
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _create(gw: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    async with gw.http.post(gw.url + "/v1/admin/api-keys", json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def test_api_keys_and_auth(
    store: Store,
    db_url: str,
    mock: Any,
    start_gateway: Any,
    admin_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    gw = await start_gateway(accounts_config(mock.url, db_url))
    # No key, a made-up key, a malformed token: 401 in OpenAI's shape.
    for api_key in ("aigw_" + "x" * 43, "not-a-key"):
        with pytest.raises(openai.AuthenticationError) as ei:
            await gw.openai(api_key).chat.completions.create(model="gpt-test", messages=MSGS)
        assert ei.value.code == "invalid_api_key" and api_key not in ei.value.message
    body = {"model": "gpt-test", "messages": MSGS}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "missing_api_key"
    assert mock.count == 0

    k = await _create(gw, admin_env, org="acme", user="alice", name="app")
    out = await gw.openai(k["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    assert out.choices[0].message.content
    assert k["key"] not in await all_table_text(store)

    # Admin endpoints refuse ordinary keys, accept admin-scoped ones.
    user_auth = {"Authorization": f"Bearer {k['key']}"}
    async with gw.http.get(gw.url + "/v1/admin/api-keys", headers=user_auth) as r:
        assert r.status == 403
    adm = await _create(gw, admin_env, org="ops", scopes=["admin"])
    adm_auth = {"Authorization": f"Bearer {adm['key']}"}
    async with gw.http.get(gw.url + "/v1/admin/api-keys?org=acme", headers=adm_auth) as r:
        assert r.status == 200
        assert [x["id"] for x in (await r.json())["data"]] == [k["id"]]
    async with gw.http.get(gw.url + "/v1/admin/users", headers=adm_auth) as r:
        users = (await r.json())["data"]
        assert [(u["id"], u["org"], u["active_keys"]) for u in users] == [("alice", "acme", 1)]

    # Scopes and allowed models: 403; /v1/models lists only what the key may use.
    emb_only = await _create(gw, admin_env, org="acme", scopes=["embeddings"])
    with pytest.raises(openai.PermissionDeniedError) as ei:
        await gw.openai(emb_only["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    assert "'chat' scope" in ei.value.message
    await gw.openai(emb_only["key"]).embeddings.create(model="embed-test", input="x")
    one_model = await _create(gw, admin_env, org="acme", models=["embed-test"])
    with pytest.raises(openai.PermissionDeniedError) as ei:
        await gw.openai(one_model["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.code == "model_not_allowed"
    models = await gw.openai(one_model["key"]).models.list()
    assert [m.id for m in models.data] == ["embed-test"]
    assert len((await gw.openai(k["key"]).models.list()).data) == 2
    with pytest.raises(openai.AuthenticationError):
        await gw.openai("aigw_unknown").models.list()
    with pytest.raises(openai.AuthenticationError):
        await gw.openai("aigw_unknown").models.retrieve("gpt-test")
    with pytest.raises(openai.NotFoundError):  # not this key's model: not even its name
        await gw.openai(one_model["key"]).models.retrieve("gpt-test")
    assert (await gw.openai(one_model["key"]).models.retrieve("embed-test")).id == "embed-test"

    # Rotation: both keys work during the grace period; revocation stops a key at once here.
    async with gw.http.post(
        gw.url + f"/v1/admin/api-keys/{k['id']}/rotate", json={"grace": "1h"}, headers=admin_env
    ) as r:
        assert r.status == 201
        rotated = await r.json()
    for key in (k["key"], rotated["key"]):
        await gw.openai(key).chat.completions.create(model="gpt-test", messages=MSGS)
    async with gw.http.delete(gw.url + f"/v1/admin/api-keys/{k['id']}", headers=admin_env) as r:
        assert r.status == 200 and (await r.json())["status"] == "revoked"
    with pytest.raises(openai.AuthenticationError) as ei:
        await gw.openai(k["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.code == "key_revoked"
    await gw.openai(rotated["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    async with gw.http.delete(gw.url + "/v1/admin/api-keys/key_nope", headers=admin_env) as r:
        assert r.status == 404

    # Expired keys: 401.
    exp = await _create(gw, admin_env, org="acme")
    await store.execute(
        "UPDATE api_keys SET expires_at = ? WHERE id = ?", time.time() - 1, exp["id"]
    )
    with pytest.raises(openai.AuthenticationError) as ei:
        await gw.openai(exp["key"]).chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.code == "key_expired"
    # No key reaches a log line (access log included), only ids and prefixes.
    access = [r for r in caplog.records if r.name == "aigw.access"]
    assert any(getattr(r, "key_id", None) == k["id"] for r in access)  # the id is logged
    for secret in (k["key"], rotated["key"], exp["key"], adm["key"], ADMIN_KEY):
        assert secret not in caplog.text
    audit = [a["action"] for a in await store.audit_entries()]
    assert {"keys.create", "keys.rotate", "keys.revoke"} <= set(audit)


async def test_revocation_elsewhere_applies_within_the_ttl(
    store: Store, db_url: str, mock: Any, start_gateway: Any, admin_env: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, db_url, auth={"key_cache_ttl": "30s"}))
    clock = FakeClock()
    gw.gateway.accounts.auth.cache._clock = clock
    k = await _create(gw, admin_env, org="acme")
    client = gw.openai(k["key"])
    await client.chat.completions.create(model="gpt-test", messages=MSGS)
    await store.revoke_key(k["id"])  # as `aigw keys revoke` in another process does
    clock.t += 29  # cached: still accepted inside the TTL
    await client.chat.completions.create(model="gpt-test", messages=MSGS)
    clock.t += 2  # past the TTL: re-read, refused
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="gpt-test", messages=MSGS)


async def test_a_cached_key_expires_on_time_and_its_principal_is_reused(
    store: Store,
    db_url: str,
    mock: Any,
    start_gateway: Any,
    admin_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path (a key the cache holds fresh) checks expiry on every request, as the
    slow path does; the principal is built once per load of the key, not per request."""
    import aigw.store.base as base

    gw = await start_gateway(accounts_config(mock.url, db_url, auth={"key_cache_ttl": "1h"}))
    auth = gw.gateway.accounts.auth
    k = await _create(gw, admin_env, org="acme", expires_in="60s")
    assert auth.known(k["key"]) is None  # not loaded yet
    client = gw.openai(k["key"])
    await client.chat.completions.create(model="gpt-test", messages=MSGS)
    p = auth.known(k["key"])
    assert p is not None and p.key_id == k["id"] and p.org_id == "acme"
    await client.chat.completions.create(model="gpt-test", messages=MSGS)
    assert auth.known(k["key"]) is p
    later = time.time() + 61
    monkeypatch.setattr(base.time, "time", lambda: later)  # the key's expiry has passed
    assert auth.known(k["key"]) is None
    with pytest.raises(openai.AuthenticationError) as ei:
        await client.chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.code == "key_expired"


async def test_auth_off_warns_and_allows_anonymous(
    mock: Any, start_gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import mock_config

    with caplog.at_level("WARNING", logger="aigw"):
        gw = await start_gateway(mock_config(mock.url))  # auth: {required: false}
    assert "AUTH IS OFF" in caplog.text
    await gw.openai("anything").chat.completions.create(model="gpt-test", messages=MSGS)


async def test_fresh_store_says_how_to_create_a_key(
    mock: Any, start_gateway: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="aigw"):
        gw = await start_gateway(accounts_config(mock.url, f"sqlite:///{tmp_path}/fresh.db"))
    assert caplog.text.count("aigw keys create --org") == 1
    with pytest.raises(openai.AuthenticationError):
        await gw.openai("sk-anything").chat.completions.create(model="gpt-test", messages=MSGS)
