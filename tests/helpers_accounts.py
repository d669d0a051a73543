"""Fixtures for the store, keys, usage and billing tests: a real SQLite file and a real
PostgreSQL database, so every store test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aigw import config as configmod
from aigw.store import Store, open_store
from aigw.store import migrations as mig

DIALECTS = ["sqlite", "postgres"]


def database_section(dialect: str, tmp_path: Path, pg_url: str) -> dict[str, Any] | str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return pg_url


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the test's dialect, as a `database:` URL."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def raw_store(db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    """Connected, not migrated."""
    cfg = configmod.from_dict({"database": db_url, "data_dir": str(tmp_path)})
    s = open_store(cfg)
    await s.connect()
    yield s
    await s.close()


@pytest.fixture
async def store(raw_store: Store) -> Store:
    """Connected and migrated."""
    await mig.up(raw_store)
    return raw_store


ADMIN_KEY = "adm-test-0123456789abcdef"


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Admin credentials: the admin key, set for the gateway under test."""
    monkeypatch.setenv("AIGW_ADMIN_KEY", ADMIN_KEY)
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


async def new_key(gw: Any, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    """Create a key in org `acme` (unless `org` is given) over the admin API; its record,
    the plain key under "key"."""
    async with gw.http.post(
        gw.url + "/v1/admin/api-keys", json={"org": "acme", **body}, headers=admin
    ) as r:
        assert r.status == 201
        return await r.json()


async def all_table_text(store: Store) -> str:
    """Every value of every table, as text: to prove a secret is stored nowhere."""
    out = []
    for t in sorted(await store.table_names()):
        for row in await store.fetch(f"SELECT * FROM {t}"):
            out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def accounts_config(mock_url: str, db: str, **extra: Any) -> dict[str, Any]:
    """The gateway in front of the mock, on the given database, with auth required."""
    from tests.conftest import mock_config

    auth = {"required": True, **extra.pop("auth", {})}
    return mock_config(mock_url, database=db, auth=auth, **extra)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
