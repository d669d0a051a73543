"""`aigw keys create` as a new user types it: the flags mean what they say, typos are refused
with the valid choices, and the CLI says which database the key went to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app

_register()


def _config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"database: sqlite:///{tmp_path}/store.db\ndata_dir: {tmp_path}\n{extra}")
    return cfg


def _keys(cfg: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_app, ["keys", *args, "--config", str(cfg)])


def test_name_and_limit_are_kept_apart(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = _keys(
        cfg, "create", "--org", "acme", "--name", "ci", "--limit", "requests_per_minute=5", "--json"
    )
    assert r.exit_code == 0, r.output
    made = orjson.loads(r.stdout)
    assert made["name"] == "ci"
    assert made["limits"] == {"requests_per_minute": 5}
    listed = orjson.loads(_keys(cfg, "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["ci"]


def test_a_scope_typo_is_refused_with_the_choices(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = _keys(cfg, "create", "--org", "acme", "--scopes", "chatt")
    assert r.exit_code == 2
    assert "unknown scope 'chatt'" in r.stderr
    assert "did you mean 'chat'" in r.stderr
    assert "chat, embeddings, models, usage, admin" in r.stderr
    assert orjson.loads(_keys(cfg, "list", "--json").stdout) == []


def test_a_limit_typo_is_refused_with_the_choices(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    r = _keys(cfg, "create", "--org", "acme", "--limit", "requests_per_minte=5")
    assert r.exit_code == 2
    assert "unknown limit 'requests_per_minte'" in r.stderr
    assert "did you mean 'requests_per_minute'" in r.stderr
    assert "tokens_per_minute" in r.stderr
    for bad in ("requests_per_minute=-5", "requests_per_minute=0", "requests_per_minute=abc"):
        r = _keys(cfg, "create", "--org", "acme", "--limit", bad)
        assert r.exit_code == 2, bad
    assert orjson.loads(_keys(cfg, "list", "--json").stdout) == []


def test_an_unknown_model_is_a_warning_not_an_error(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "providers: {openai: {api_key: sk-test}}\nmodels: {gpt-known: {provider: openai}}\n",
    )
    r = _keys(cfg, "create", "--org", "acme", "--models", "gpt-known,openai/any", "--json")
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr
    r = _keys(cfg, "create", "--org", "acme", "--models", "gpt-known,gpt-nowhere", "--json")
    assert r.exit_code == 0, r.output
    assert "warning: no route in this config knows the model 'gpt-nowhere'" in r.stderr
    assert orjson.loads(r.stdout)["models"] == ["gpt-known", "gpt-nowhere"]


def test_the_cli_says_which_database_a_key_went_to(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
    r = subprocess.run(
        [sys.executable, "-m", "aigw", "keys", "create", "--org", "acme"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("aigw_")
    db = elsewhere / ".aigw" / "aigw.db"
    assert db.exists()
    assert f"database: sqlite:///{db}" in r.stderr
    # With AIGW_DATA_DIR the same command writes there, and says so.
    data = tmp_path / "shared-data"
    r = subprocess.run(
        [sys.executable, "-m", "aigw", "keys", "create", "--org", "acme"],
        cwd=elsewhere,
        env={**env, "AIGW_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"database: sqlite:///{data / 'aigw.db'}" in r.stderr


def test_postgres_is_named_without_its_password(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "pg.yaml"
    head, _, tail = pg_url.partition("://")
    user_host = tail.split("@", 1)
    with_pw = f"{head}://{user_host[0].split(':')[0]}:s3cret-pw@{user_host[-1]}"
    cfg.write_text(f"database: {with_pw}\ndata_dir: {tmp_path}\n")
    assert CliRunner().invoke(cli_app, ["migrate", "up", "--config", str(cfg)]).exit_code == 0
    r = _keys(cfg, "create", "--org", "acme")
    assert r.exit_code == 0, r.output
    assert "database: postgresql://" in r.stderr
    assert "s3cret-pw" not in r.output
