"""Persistence: the Store (SQLite or PostgreSQL), migrations, and the usage writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aigw.store.base import KeyRecord, NotMigrated, Store, StoreUnavailable

if TYPE_CHECKING:
    from aigw.config import Config

__all__ = ["KeyRecord", "NotMigrated", "Store", "StoreUnavailable", "open_store"]


def open_store(config: Config) -> Store:
    """The store named by `database:` (not yet connected): the same one for `aigw serve`
    and every CLI command given the same config and data directory."""
    db = config.database
    if db.dialect() == "sqlite":
        from aigw.store.sqlite import SqliteStore

        return SqliteStore(db.sqlite_path(config.data_dir))
    from aigw.store.postgres import PostgresStore

    return PostgresStore(
        db.postgres_dsn(),
        db.describe(config.data_dir),
        pool_min=db.pool_min,
        pool_max=db.pool_max,
        connect_timeout=db.connect_timeout,
        command_timeout=db.command_timeout,
    )
