"""The accounts component, built once by the gateway: the store, and (as they land) key and
JWT authentication, the usage writer and budgets. Its start hook refuses an unmigrated
database, except a brand-new embedded SQLite file, which it migrates on the spot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aigw.config import Config
from aigw.store import migrations as mig
from aigw.store import open_store

log = logging.getLogger("aigw")


class Accounts:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = open_store(config)

    async def start(self) -> None:
        await self.store.connect()
        try:
            if self.store.dialect == "sqlite":
                # Workers of one `aigw serve --workers N` start together: one migrates.
                async with _file_lock(self.store.where[len("sqlite:///") :] + ".migrate-lock"):
                    ran = await mig.check(self.store, auto_if_empty=True)
            else:
                ran = await mig.check(self.store)
        except BaseException:
            await self.store.close()
            raise
        if ran:
            log.info(
                "created a new database",
                extra={"database": self.store.where, "migrations": [m.version for m in ran]},
            )

    async def stop(self) -> None:
        await self.store.close()


@contextlib.asynccontextmanager
async def _file_lock(path: str) -> AsyncIterator[None]:
    """An exclusive lock between processes on this host (taken in a thread: it may wait)."""
    try:
        import fcntl
    except ImportError:  # Windows: a single worker anyway
        yield
        return
    with open(path, "a") as f:
        await asyncio.to_thread(fcntl.flock, f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
