"""SQLite store: the embedded default. aiosqlite runs each of its two connections (one writes,
one reads) on its own thread, so no query blocks the event loop; WAL lets the CLI and other
workers read and write while the server runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from aigw.store.base import USAGE_COLUMNS, Store, StoreUnavailable, usage_rows


class _SqliteTx:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def execute(self, sql: str, *args: Any) -> None:
        await self.db.execute(sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return list(await self.db.execute_fetchall(sql, args))


class SqliteStore(Store):
    """Two connections, each on its own aiosqlite thread: one writes (statements and
    transactions take turns on it), one reads. In WAL mode a read never waits for a write,
    and with its own connection it never queues behind one either: a key look-up on the
    request path does not wait for a usage insert, nor for the busy timeout while another
    worker holds the write lock."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.where = "sqlite:///" + path
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        # Writes (and transactions) take turns so that one coroutine's statements never land
        # inside another's transaction.
        self._write = asyncio.Lock()

    async def connect(self) -> None:
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        try:
            # The busy timeout comes first: workers starting together on a new file take
            # turns (one creates and migrates it) instead of failing with "database is locked".
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=10.0)
            await self._db.execute("PRAGMA busy_timeout=10000")
            for attempt in range(50):
                try:
                    await self._db.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:
                    # Switching to WAL needs the file to itself for a moment; another
                    # process may hold it without SQLite calling the busy handler.
                    if "locked" not in str(e) or attempt == 49:
                        raise
                    await asyncio.sleep(0.1)
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA foreign_keys=ON")
            self._reader = await aiosqlite.connect(self.path, isolation_level=None, timeout=10.0)
            await self._reader.execute("PRAGMA busy_timeout=10000")
            await self._reader.execute("PRAGMA query_only=ON")
        except sqlite3.Error as e:
            await self.close()
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from None

    async def close(self) -> None:
        for conn in (self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The writing connection."""
        if self._db is None:
            raise StoreUnavailable("the store is not connected")
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreUnavailable("the store is not connected")
        return self._reader

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        # One call on the reading connection's thread (never execute, then fetch: between
        # the two a connection holds a read snapshot open; a write run inside it after
        # another process wrote is refused at once, SQLITE_BUSY_SNAPSHOT, "database is
        # locked", without the busy timeout).
        try:
            return list(await self.reader.execute_fetchall(sql, args))
        except sqlite3.OperationalError as e:
            raise _classify(e) from None

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._write:
            try:
                await self.db.execute(sql, args)
            except sqlite3.OperationalError as e:
                raise _classify(e) from None

    async def insert_usage(self, records: Sequence[dict[str, Any]]) -> None:
        """Multi-row VALUES statements: all of a statement's values are bound in one call and
        its rows inserted in one step without the GIL. `executemany` binds each row holding
        the GIL (two hand-offs per row between the database thread and the event loop's; at
        a few thousand rows a second they stalled the loop), and a JSON array unpacked by
        SQLite re-parses each record once per column (23 us of CPU per row here, against 7
        for this). Idempotent on the record id, as the base class's."""
        rows = usage_rows(records)
        for i in range(0, len(rows), _ROWS_PER_INSERT):
            part = rows[i : i + _ROWS_PER_INSERT]
            await self.execute(_insert_usage_sql(len(part)), *itertools.chain.from_iterable(part))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.db.executemany(sql, list(rows))  # type: ignore[attr-defined]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:  # type: ignore[override]
        async with self._write:
            db = self.db
            # Cancelling the caller (a client gone, a shutdown) while BEGIN waits for the lock
            # would not stop the BEGIN: it would run later on the database thread and leave
            # a transaction open, which the next statements run inside of. So the BEGIN is
            # waited for anyway, and undone, before the lock is let go.
            begin = asyncio.ensure_future(db.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
            except sqlite3.OperationalError as e:
                raise _classify(e) from None
            except asyncio.CancelledError:
                with contextlib.suppress(sqlite3.Error):
                    await begin
                    await db.execute("ROLLBACK")
                raise
            try:
                yield _SqliteTx(db)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def run_script(self, sql: str) -> None:
        async with self._write:
            await self.db.executescript("BEGIN;\n" + sql + "\nCOMMIT;")

    async def table_names(self) -> set[str]:
        rows = await self.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows if not r[0].startswith("sqlite_")}

    def _day_expr(self) -> str:
        return "strftime('%Y-%m-%d', ts, 'unixepoch')"


def _classify(e: sqlite3.OperationalError) -> Exception:
    msg = str(e)
    if "no such table" in msg or "no such column" in msg:
        return e
    return StoreUnavailable(f"sqlite: {msg}")


# SQLite allows 32,766 bound values per statement (19 per record).
_ROWS_PER_INSERT = 500


@functools.lru_cache(maxsize=64)
def _insert_usage_sql(rows: int) -> str:
    values = "(" + ", ".join("?" * len(USAGE_COLUMNS)) + ")"
    return (
        f"INSERT INTO usage_records ({', '.join(USAGE_COLUMNS)}) "
        f"VALUES {', '.join([values] * rows)} ON CONFLICT (id) DO NOTHING"
    )
