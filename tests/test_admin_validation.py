"""The admin API checks a key's definition with the CLI's rules (issue 13, item 8), and a
freshly created admin-scoped key works on every admin route at once (item 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aigw.bench.mock_upstream import MockOpenAI
from aigw.cli import _register
from aigw.cli import app as cli_app
from tests.helpers_accounts import accounts_config, admin, new_key  # noqa: F401  (fixture)

_register()


@pytest.fixture
async def agw(mock: MockOpenAI, start_gateway: Any, tmp_path: Path) -> Any:
    return await start_gateway(accounts_config(mock.url, f"sqlite:///{tmp_path}/store.db"))


@pytest.mark.parametrize(
    "body,param",
    [
        ({"scopes": ["bogus"]}, "scopes"),
        ({"scopes": "chat"}, "scopes"),
        ({"limits": {"requests_per_minute": "abc"}}, "limits.requests_per_minute"),
        ({"limits": {"requests_per_minute": -5}}, "limits.requests_per_minute"),
        ({"limits": {"requests_per_minute": True}}, "limits.requests_per_minute"),
        ({"limits": {"requests_per_minte": 5}}, "limits.requests_per_minte"),
        ({"limits": {"tokens_per_minute": 10**30}}, "limits.tokens_per_minute"),
        ({"limits": [1]}, "limits"),
        ({"budget": {"usd_per_day": "lots"}}, "budget.usd_per_day"),
        ({"org": "x" * 100_000}, "org"),
        ({"org": ""}, "org"),
        ({"org": 5}, "org"),
        ({"org": "acme\n"}, "org"),
        ({"name": "n" * 100_000}, "name"),
        ({"user": ["u"]}, "user"),
        ({"models": ["m" * 5000]}, "models"),
        ({"models": [1, 2]}, "models"),
        ({"priority": 10**20}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"expires_in": 1e300}, "expires_in"),
        ({"cache_enabled": "no"}, "cache_enabled"),
    ],
)
async def test_admin_api_refuses_a_bad_key_definition(
    agw: Any,
    admin: dict[str, str],  # noqa: F811
    body: dict[str, Any],
    param: str,
) -> None:
    async with agw.http.post(
        agw.url + "/v1/admin/api-keys", json={"org": "acme", **body}, headers=admin
    ) as r:
        out = await r.json()
        assert r.status == 400, out
    assert out["error"]["param"] == param
    assert param.split(".")[0] in out["error"]["message"]
    assert len(out["error"]["message"]) < 300  # never the 100 KB value echoed back
    async with agw.http.get(agw.url + "/v1/admin/api-keys", headers=admin) as r:
        assert (await r.json())["data"] == []  # nothing was stored


async def test_valid_definitions_still_work(agw: Any, admin: dict[str, str]) -> None:  # noqa: F811
    rec = await new_key(
        agw,
        admin,
        scopes=["chat", "usage"],
        limits={"requests_per_minute": 60, "token_budget": None},
        budget={"usd_per_day": 5},
        models=["gpt-test"],
        name="ci",
        priority=2,
    )
    assert rec["scopes"] == ["chat", "usage"]
    assert rec["limits"] == {"requests_per_minute": 60, "token_budget": None}


def test_cli_uses_the_same_rules(tmp_path: Path) -> None:
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"database: sqlite:///{tmp_path}/store.db\ndata_dir: {tmp_path}\n")
    for args, field in [
        (["--limit", "requests_per_minute=-5"], "limits.requests_per_minute"),
        (["--scopes", "bogus"], "scopes"),
        (["--limit", "requests_per_minte=5"], "limits.requests_per_minte"),
        (["--name", "n" * 1000], "name"),
    ]:
        r = CliRunner().invoke(
            cli_app, ["keys", "create", "--org", "acme", *args, "--config", str(cfg)]
        )
        assert r.exit_code == 2, r.output
        assert f"error: {field}:" in r.output


async def test_fresh_admin_scoped_key_reads_admin_metrics(
    agw: Any,
    admin: dict[str, str],  # noqa: F811
) -> None:
    key = (await new_key(agw, admin, scopes=["admin"]))["key"]
    headers = {"Authorization": f"Bearer {key}"}
    async with agw.http.get(agw.url + "/v1/admin/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
    plain = (await new_key(agw, admin, scopes=["chat"]))["key"]
    async with agw.http.get(
        agw.url + "/v1/admin/metrics", headers={"Authorization": f"Bearer {plain}"}
    ) as r:
        assert r.status == 403
    async with agw.http.get(
        agw.url + "/v1/admin/metrics", headers={"Authorization": "Bearer aigw_unknown"}
    ) as r:
        assert r.status == 401
