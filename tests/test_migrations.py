"""Migrations up, down, up again on SQLite and PostgreSQL; status; refusing an unmigrated
database; the CLI and the server agreeing on where the database is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aigw import config as configmod
from aigw.cli import _register
from aigw.cli import app as cli_app
from aigw.store import NotMigrated, Store
from aigw.store import migrations as mig
from aigw.store.accounts import Accounts
from tests.helpers_accounts import *  # noqa: F403  (fixtures: store on SQLite and PostgreSQL)

APP_TABLES = {"orgs", "users", "api_keys", "usage_records", "audit_log"}

_register()


async def test_up_down_up(raw_store: Store) -> None:
    shipped = mig.shipped(raw_store.dialect)
    assert len(shipped) >= 2
    ran = await mig.up(raw_store)
    assert [m.version for m in ran] == [m.version for m in shipped]
    assert await raw_store.table_names() >= APP_TABLES
    assert await mig.up(raw_store) == []  # idempotent

    undone = await mig.down(raw_store, 1)
    assert [m.version for m in undone] == [shipped[-1].version]
    st = await mig.status(raw_store)
    assert [r["applied"] for r in st] == [True] * (len(shipped) - 1) + [False]

    undone = await mig.down(raw_store, 99)
    assert len(undone) == len(shipped) - 1
    assert not (APP_TABLES & await raw_store.table_names())

    ran = await mig.up(raw_store)
    assert len(ran) == len(shipped)
    assert all(r["applied"] for r in await mig.status(raw_store))
    # The schema works after the round trip.
    await raw_store.ensure_org("acme")
    assert await raw_store.list_users() == []


async def test_check_refuses_unmigrated(raw_store: Store) -> None:
    await mig.up(raw_store)
    await mig.down(raw_store, 1)
    with pytest.raises(NotMigrated, match="aigw migrate up"):
        await mig.check(raw_store, auto_if_empty=True)  # not empty: never automatic


async def test_server_refuses_unmigrated_postgres(pg_url: str, tmp_path: Path) -> None:
    cfg = configmod.from_dict({"database": pg_url, "data_dir": str(tmp_path)})
    acc = Accounts(cfg)
    with pytest.raises(SystemExit, match="run `aigw migrate up`"):  # one line, no traceback
        await acc.start()


def test_serve_refuses_unmigrated_postgres(pg_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"database: {pg_url}\nlogging: {{level: error}}\n")
    r = subprocess.run(
        [sys.executable, "-m", "aigw", "serve", "--config", str(cfg), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "aigw migrate up" in r.stderr and "Traceback" not in r.stderr


async def test_fresh_sqlite_is_migrated_on_start(tmp_path: Path) -> None:
    cfg = configmod.from_dict({"data_dir": str(tmp_path / "d")})
    acc = Accounts(cfg)
    await acc.start()
    try:
        assert await acc.store.table_names() >= APP_TABLES
    finally:
        await acc.stop()
    assert (tmp_path / "d" / "aigw.db").exists()  # the default: <data_dir>/aigw.db


def test_cli_migrate_status_up_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No config: the CLI uses the default data dir, the same one `aigw serve` uses.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIGW_DATA_DIR", raising=False)
    monkeypatch.delenv("AIGW_CONFIG", raising=False)
    runner = CliRunner()
    r = runner.invoke(cli_app, ["migrate", "status"])
    assert r.exit_code == 0, r.output
    assert "pending" in r.output and "0 applied" in r.output
    r = runner.invoke(cli_app, ["migrate", "up"])
    assert r.exit_code == 0, r.output
    assert "applied 001_initial" in r.output
    db = tmp_path / ".aigw" / "aigw.db"
    tables = {row[0] for row in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
    assert tables >= APP_TABLES
    r = runner.invoke(cli_app, ["migrate", "status", "--json"])
    assert r.exit_code == 0 and '"applied":false' not in r.output
    shipped = mig.shipped("sqlite")
    n, newest = len(shipped), shipped[-1].version
    r = runner.invoke(cli_app, ["migrate", "down", str(n)], input="n\n")
    assert r.exit_code == 1, r.output
    assert f"reverts {newest:03d}_" in r.output and "001_initial" in r.output
    assert "Continue?" in r.output and "aborted: nothing changed" in r.stderr
    r = runner.invoke(cli_app, ["migrate", "status"])
    assert f"{n} applied" in r.output
    r = runner.invoke(cli_app, ["migrate", "down", "1"], input="y\n")
    assert r.exit_code == 0 and f"reverted {newest:03d}" in r.output, r.output
    r = runner.invoke(cli_app, ["migrate", "down", str(n - 1), "--yes"])
    assert r.exit_code == 0, r.output
    assert "Continue?" not in r.output
    # Version numbers may have gaps (reserved per feature): the newest is reverted first.
    assert f"reverted {shipped[-2].version:03d}" in r.output and "reverted 001" in r.output
    r = runner.invoke(cli_app, ["migrate", "status"])
    assert "0 applied" in r.output


def test_cli_migrate_postgres_via_config(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"database:\n  url: {pg_url}\n")
    runner = CliRunner()
    r = runner.invoke(cli_app, ["migrate", "up", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    shipped = mig.shipped("postgres")
    n = len(shipped)
    assert "postgresql://" in r.output and f"applied {shipped[-1].version:03d}" in r.output
    r = runner.invoke(cli_app, ["migrate", "status", "-c", str(cfg)])
    assert r.exit_code == 0 and f"{n} applied, 0 pending" in r.output


def test_cli_unreachable_database_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(
        "database:\n  url: postgresql://postgres@127.0.0.1:1/nope\n  connect_timeout: 1s\n"
    )
    r = CliRunner().invoke(cli_app, ["migrate", "status", "-c", str(cfg)])
    assert r.exit_code == 1
    assert "database unavailable" in r.output
