"""The accounts component, built once by the gateway: the store, key and JWT authentication,
the usage writer and budgets. Its start hook refuses an unmigrated database, except a
brand-new embedded SQLite file, which it migrates on the spot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from aigw.auth.authenticator import Authenticator
from aigw.auth.keys import KeyService
from aigw.auth.stage import AuthStage
from aigw.billing.budgets import BudgetStage
from aigw.billing.cost import Pricer
from aigw.component import Component, Gauge
from aigw.config import Config
from aigw.store import NotMigrated, StoreUnavailable, open_store
from aigw.store import migrations as mig
from aigw.store.recording import UsageRecorder
from aigw.store.usage_writer import UsageWriter

log = logging.getLogger("aigw")


class CannotStart(SystemExit):
    """The database is unreachable or not migrated: the process exits with this one line
    (no traceback), exit status 1."""


class Accounts(Component):
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = open_store(config)
        self.auth = Authenticator(config.auth, self.store)
        self.keys = KeyService(self.store, self.auth.hasher, config.auth.rotate_grace)
        self.auth_stage = AuthStage(self.auth)
        self.pricer = Pricer(config)
        self.usage = UsageWriter(self.store, os.path.join(config.data_dir, "spool"))
        self.usage_stage = UsageRecorder(self.usage, self.pricer)
        self.budget_stage = BudgetStage(config, self.store, self.pricer)

    async def start(self) -> None:
        try:
            await self.store.connect()
            if self.store.dialect == "sqlite":
                # Workers of one `aigw serve --workers N` start together: one migrates.
                async with _file_lock(self.store.where[len("sqlite:///") :] + ".migrate-lock"):
                    ran = await mig.check(self.store, auto_if_empty=True)
            else:
                ran = await mig.check(self.store)
            if self.auth.jwt is not None:
                await self.auth.jwt.start()
            await self.usage.start()  # replays any spool left by a previous run
        except (NotMigrated, StoreUnavailable) as e:
            await self.store.close()
            log.error(str(e))
            raise CannotStart(f"aigw: {e}") from None
        except BaseException:
            await self.store.close()
            raise
        if ran:
            log.info(
                "created a new database",
                extra={"database": self.store.where, "migrations": [m.version for m in ran]},
            )
        if not self.config.auth.required:
            log.warning(
                "AUTH IS OFF (auth.required: false): anyone who can reach this port may use "
                "every model at your expense. For local experiments only."
            )
        elif not await self.store.list_keys(include_revoked=False):
            log.warning(
                "no API keys yet: create the first one with "
                "`aigw keys create --org <your-org>` (same --config as this server)"
            )

    def gauges(self) -> list[Gauge]:
        return self.usage.gauges()

    async def stop(self) -> None:
        await self.usage.stop()  # after in-flight requests: flush or spool every record
        if self.auth.jwt is not None:
            await self.auth.jwt.stop()
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
