"""PostgreSQL store via an asyncpg pool. Connection failures (server down, network cut,
timeouts) become StoreUnavailable; the pool reconnects by itself when the server returns."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from aigw.store.base import Store, StoreUnavailable

_MARK = re.compile(r"\?")
_DOWN = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


def numbered(sql: str) -> str:
    """`?` placeholders -> `$1, $2, ...` (the shared queries never hold a literal `?`)."""
    n = 0

    def sub(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return _MARK.sub(sub, sql)


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(numbered(sql), *args)

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return list(await self.conn.fetch(numbered(sql), *args))


class PostgresStore(Store):
    dialect = "postgres"
    _for_update = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        where: str,
        *,
        pool_min: int = 2,
        pool_max: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.where = where
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.pool_min,
                max_size=self.pool_max,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                # Pooled connections may outlive a failover: check them before use.
                max_inactive_connection_lifetime=60.0,
            )
        except (*_DOWN, asyncpg.PostgresError) as e:
            raise StoreUnavailable(f"cannot connect to {self.where}: {e}") from None

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, *_DOWN):
                pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the store is not connected")
        return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        try:
            async with self.pool.acquire(timeout=self.connect_timeout) as c:
                return list(await c.fetch(numbered(sql), *args))
        except _DOWN as e:
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from None

    async def execute(self, sql: str, *args: Any) -> None:
        try:
            async with self.pool.acquire(timeout=self.connect_timeout) as c:
                await c.execute(numbered(sql), *args)
        except _DOWN as e:
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from None

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            async with self.pool.acquire(timeout=self.connect_timeout) as c:
                await c.executemany(numbered(sql), list(rows))
        except _DOWN as e:
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:  # type: ignore[override]
        try:
            async with self.pool.acquire(timeout=self.connect_timeout) as c, c.transaction():
                yield _PgTx(c)
        except _DOWN as e:
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from None

    async def run_script(self, sql: str) -> None:
        async with self.pool.acquire() as c, c.transaction():
            await c.execute(sql)

    async def table_names(self) -> set[str]:
        rows = await self.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        return {r[0] for r in rows}

    def _day_expr(self) -> str:
        return "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
