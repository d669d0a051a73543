"""Versioned SQL migrations, one folder per dialect: `NNN_name.up.sql` / `NNN_name.down.sql`.

The applied versions live in `schema_migrations` (created by the runner, not by a migration),
so a database with no tables at all is recognisably brand new.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aigw.store.base import NotMigrated, Store

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.(up|down)\.sql$")
TABLE = "schema_migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str
    down: str


def shipped(dialect: str) -> list[Migration]:
    files: dict[tuple[int, str], dict[str, str]] = {}
    folder = resources.files("aigw.store.migrations").joinpath(dialect)
    for f in folder.iterdir():
        m = _FILE.match(f.name)
        if m:
            files.setdefault((int(m.group(1)), m.group(2)), {})[m.group(3)] = f.read_text()
    out = []
    for (version, name), parts in sorted(files.items()):
        if "up" not in parts or "down" not in parts:
            raise RuntimeError(f"migration {version:03d}_{name} ({dialect}) lacks up or down")
        out.append(Migration(version, name, parts["up"], parts["down"]))
    return out


async def _ensure_table(store: Store) -> None:
    if TABLE not in await store.table_names():
        await store.run_script(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL);"
        )


async def applied(store: Store) -> dict[int, float]:
    if TABLE not in await store.table_names():
        return {}
    rows = await store.fetch(f"SELECT version, applied_at FROM {TABLE}")
    return {int(r[0]): float(r[1]) for r in rows}


async def status(store: Store) -> list[dict[str, Any]]:
    done = await applied(store)
    return [
        {
            "version": m.version,
            "name": m.name,
            "applied": m.version in done,
            "applied_at": done.get(m.version),
        }
        for m in shipped(store.dialect)
    ]


async def up(store: Store) -> list[Migration]:
    """Apply every pending migration, in order, each in its own transaction."""
    await _ensure_table(store)
    done = await applied(store)
    ran = []
    for m in shipped(store.dialect):
        if m.version in done:
            continue
        await store.run_script(
            m.up + f"\nINSERT INTO {TABLE} (version, name, applied_at) "
            f"VALUES ({m.version}, '{m.name}', {time.time()});"
        )
        ran.append(m)
    return ran


async def down(store: Store, steps: int = 1) -> list[Migration]:
    """Undo the last `steps` applied migrations, newest first."""
    done = await applied(store)
    ran: list[Migration] = []
    for m in reversed(shipped(store.dialect)):
        if len(ran) >= steps:
            break
        if m.version not in done:
            continue
        await store.run_script(m.down + f"\nDELETE FROM {TABLE} WHERE version = {m.version};")
        ran.append(m)
    return ran


async def check(store: Store, *, auto_if_empty: bool = False) -> list[Migration]:
    """Refuse to run on a schema behind the code. A brand-new embedded database (no tables
    at all) is migrated on the spot when `auto_if_empty`, so a fresh machine just works."""
    pending = [m for m in shipped(store.dialect) if m.version not in await applied(store)]
    if not pending:
        return []
    if auto_if_empty and not await store.table_names():
        return await up(store)
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in pending)
    raise NotMigrated(
        f"the database {store.where} is not migrated (pending: {names}); "
        "run `aigw migrate up` (with the same --config) first"
    )
