"""The Store: one interface over SQLite (embedded default) and PostgreSQL (production).

Both dialects share every query here (written with `?` placeholders; the PostgreSQL store
numbers them). A dialect supplies five primitives: fetch, fetchone, execute, executemany and
a transaction; times are UNIX seconds, lists and maps are JSON text, so rows look the same.
"""

from __future__ import annotations

import operator
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


class StoreUnavailable(Exception):
    """The database cannot be reached (down, cut, timing out). Callers degrade: the usage
    writer spools, the key cache serves what it has."""


class NotMigrated(Exception):
    """The schema is missing or behind the shipped migrations."""


@dataclass(slots=True)
class KeyRecord:
    id: str
    org_id: str
    prefix: str
    key_hash: str
    user_id: str | None = None
    name: str = ""
    scopes: list[str] = field(default_factory=list)
    models: list[str] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] | None = None
    priority: int = 0
    may_set_priority: bool = False
    cache_enabled: bool = True
    expires_at: float | None = None
    created_at: float = 0.0
    last_used_at: float | None = None
    revoked_at: float | None = None
    replaced_by: str | None = None

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self) -> dict[str, Any]:
        """What the API and CLI show: never the hash."""
        return {
            "id": self.id,
            "org": self.org_id,
            "user": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": self.scopes,
            "models": self.models,
            "limits": self.limits,
            "budget": self.budget,
            "priority": self.priority,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "replaced_by": self.replaced_by,
            "status": self.status(),
        }


USAGE_COLUMNS = (
    "id",
    "request_id",
    "ts",
    "org_id",
    "user_id",
    "key_id",
    "endpoint",
    "model",
    "provider",
    "deployment",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "saved_usd",
    "latency_ms",
    "cache",
    "status",
    "batch_id",
)

_USAGE_DEFAULTS: dict[str, Any] = {
    "endpoint": "chat",
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "cached_tokens": 0,
    "cost_usd": 0.0,
    "saved_usd": 0.0,
    "latency_ms": 0.0,
}

_usage_row = operator.itemgetter(*USAGE_COLUMNS)


def usage_rows(records: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The records as rows in USAGE_COLUMNS order."""
    try:  # records made by this version carry every column: picked out in C
        return list(map(_usage_row, records))
    except KeyError:  # older spooled records: the defaults fill the gaps
        return [tuple(r.get(c, _USAGE_DEFAULTS.get(c)) for c in USAGE_COLUMNS) for r in records]


_KEY_COLUMNS = (
    "id, org_id, user_id, name, prefix, key_hash, scopes, models, limits, budget, priority, "
    "may_set_priority, cache_enabled, expires_at, created_at, last_used_at, revoked_at, "
    "replaced_by"
)


def _j(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


def _unj(v: Any) -> Any:
    return None if v is None else orjson.loads(v)


def _key_from_row(r: Sequence[Any]) -> KeyRecord:
    return KeyRecord(
        id=r[0],
        org_id=r[1],
        user_id=r[2],
        name=r[3],
        prefix=r[4],
        key_hash=r[5],
        scopes=_unj(r[6]) or [],
        models=_unj(r[7]),
        limits=_unj(r[8]) or {},
        budget=_unj(r[9]),
        priority=int(r[10]),
        may_set_priority=bool(r[11]),
        cache_enabled=bool(r[12]),
        expires_at=r[13],
        created_at=r[14],
        last_used_at=r[15],
        revoked_at=r[16],
        replaced_by=r[17],
    )


@dataclass(slots=True)
class LedgerLine:
    """One key's or org's spending in one period, and the limits that apply to it."""

    lkey: str  # "<column>:<subject>:<period start>"
    column: str  # "key_id" | "org_id"
    subject: str
    since: float
    usd_limit: float | None = None
    tokens_limit: float | None = None


class OverBudget(Exception):
    def __init__(self, line: LedgerLine, kind: str, used: float) -> None:
        super().__init__(line.lkey)
        self.line, self.kind, self.used = line, kind, used


class Tx(Protocol):
    async def execute(self, sql: str, *args: Any) -> None: ...
    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...


class Store(ABC):
    """Shared queries; each dialect (sqlite.py, postgres.py) implements the primitives below."""

    dialect: str = ""
    where: str = ""  # for messages: the database without secrets

    # --- dialect primitives ------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    @abstractmethod
    async def run_script(self, sql: str) -> None:
        """Run a migration script (several statements) atomically."""

    @abstractmethod
    async def table_names(self) -> set[str]: ...

    async def fetchone(self, sql: str, *args: Any) -> Sequence[Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    # --- organisations and users -------------------------------------------------------
    async def ensure_org(self, org_id: str, name: str = "") -> None:
        await self.execute(
            "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            org_id,
            name or org_id,
            time.time(),
        )

    async def ensure_user(self, user_id: str, org_id: str, email: str | None = None) -> None:
        await self.ensure_org(org_id)
        await self.execute(
            "INSERT INTO users (id, org_id, email, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            user_id,
            org_id,
            email,
            time.time(),
        )

    async def list_users(self, org_id: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT u.id, u.org_id, u.email, u.role, u.created_at, "
            "(SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) "
            "FROM users u"
        )
        args: list[Any] = []
        if org_id:
            sql += " WHERE u.org_id = ?"
            args.append(org_id)
        rows = await self.fetch(sql + " ORDER BY u.org_id, u.id", *args)
        return [
            {
                "id": r[0],
                "org": r[1],
                "email": r[2],
                "role": r[3],
                "created_at": r[4],
                "active_keys": int(r[5]),
            }
            for r in rows
        ]

    # --- API keys ----------------------------------------------------------------------
    async def insert_key(self, k: KeyRecord) -> None:
        if k.user_id:
            await self.ensure_user(k.user_id, k.org_id)
        else:
            await self.ensure_org(k.org_id)
        await self.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            k.id,
            k.org_id,
            k.user_id,
            k.name,
            k.prefix,
            k.key_hash,
            _j(k.scopes),
            _j(k.models),
            _j(k.limits),
            _j(k.budget),
            k.priority,
            int(k.may_set_priority),
            int(k.cache_enabled),
            k.expires_at,
            k.created_at,
            k.last_used_at,
            k.revoked_at,
            k.replaced_by,
        )

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        r = await self.fetchone(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", key_hash)
        return _key_from_row(r) if r else None

    async def find_keys(self, id_or_prefix: str) -> list[KeyRecord]:
        rows = await self.fetch(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ? OR prefix = ?",
            id_or_prefix,
            id_or_prefix,
        )
        return [_key_from_row(r) for r in rows]

    async def list_keys(
        self, org_id: str | None = None, include_revoked: bool = True
    ) -> list[KeyRecord]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE 1=1"
        args: list[Any] = []
        if org_id:
            sql += " AND org_id = ?"
            args.append(org_id)
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        rows = await self.fetch(sql + " ORDER BY created_at, id", *args)
        return [_key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, at: float | None = None) -> None:
        await self.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            time.time() if at is None else at,
            key_id,
        )

    async def replace_key(self, old_id: str, new: KeyRecord, old_valid_until: float) -> None:
        """Rotation: the new key first, then the old key's end of grace (a failure in
        between leaves both keys valid, never neither)."""
        await self.insert_key(new)
        await self.execute(
            "UPDATE api_keys SET replaced_by = ?, expires_at = "
            "CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END "
            "WHERE id = ?",
            new.id,
            old_valid_until,
            old_valid_until,
            old_id,
        )

    async def touch_keys(self, last_used: dict[str, float]) -> None:
        if last_used:
            await self.executemany(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                [(ts, kid, ts) for kid, ts in last_used.items()],
            )

    # --- audit -------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, target: str | None, detail: Any = None) -> None:
        await self.execute(
            "INSERT INTO audit_log (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            time.time(),
            actor,
            action,
            target,
            _j(detail),
        )

    async def audit_entries(
        self, limit: int = 100, *, before: int | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; `before` (an entry id) pages back, `action` filters (`keys.create`)."""
        sql = "SELECT id, ts, actor, action, target, detail FROM audit_log WHERE 1=1"
        args: list[Any] = []
        if before is not None:
            sql += " AND id < ?"
            args.append(before)
        if action:
            sql += " AND action = ?"
            args.append(action)
        rows = await self.fetch(sql + " ORDER BY id DESC LIMIT ?", *args, limit)
        return [
            {
                "id": int(r[0]),
                "ts": r[1],
                "actor": r[2],
                "action": r[3],
                "target": r[4],
                "detail": _unj(r[5]),
            }
            for r in rows
        ]

    # --- admin console sessions (hashes of the tokens only) ----------------------------
    async def session_insert(
        self, token_hash: str, actor: str, now: float, expires_at: float
    ) -> None:
        await self.execute(
            "INSERT INTO console_sessions (token_hash, actor, created_at, last_seen_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?)",
            token_hash,
            actor,
            now,
            now,
            expires_at,
        )

    async def session_get(self, token_hash: str) -> dict[str, Any] | None:
        r = await self.fetchone(
            "SELECT actor, created_at, last_seen_at, expires_at FROM console_sessions "
            "WHERE token_hash = ?",
            token_hash,
        )
        if r is None:
            return None
        return {"actor": r[0], "created_at": r[1], "last_seen_at": r[2], "expires_at": r[3]}

    async def session_touch(self, token_hash: str, now: float) -> None:
        await self.execute(
            "UPDATE console_sessions SET last_seen_at = ? WHERE token_hash = ?", now, token_hash
        )

    async def session_delete(self, token_hash: str) -> None:
        await self.execute("DELETE FROM console_sessions WHERE token_hash = ?", token_hash)

    async def session_purge(self, now: float) -> None:
        await self.execute("DELETE FROM console_sessions WHERE expires_at <= ?", now)

    # --- usage -------------------------------------------------------------------------
    async def insert_usage(self, records: Sequence[dict[str, Any]]) -> None:
        """Idempotent on the record id: replaying a batch twice stores it once."""
        cols = ", ".join(USAGE_COLUMNS)
        marks = ", ".join("?" for _ in USAGE_COLUMNS)
        await self.executemany(
            f"INSERT INTO usage_records ({cols}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
            usage_rows(records),
        )

    @abstractmethod
    def _day_expr(self) -> str: ...

    async def usage_report(
        self,
        *,
        org_id: str | None = None,
        key_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Totals, grouped by model | day | key | org (or one total row)."""
        group = {
            None: None,
            "model": "model",
            "day": self._day_expr(),
            "key": "key_id",
            "org": "org_id",
        }
        if by not in group:
            raise ValueError(f"cannot group by {by!r} (model, day, key, org)")
        expr = group[by]
        where, args = ["1=1"], []
        for col, op, val in (
            ("org_id", "=", org_id),
            ("key_id", "=", key_id),
            ("ts", ">=", since),
            ("ts", "<", until),
        ):
            if val is not None:
                where.append(f"{col} {op} ?")
                args.append(val)
        sel = (
            "COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0), "
            "COALESCE(SUM(cached_tokens),0), COALESCE(SUM(cost_usd),0), "
            "COALESCE(SUM(saved_usd),0), "
            "COALESCE(SUM(CASE WHEN cache IN ('hit','semantic') THEN 1 ELSE 0 END),0), "
            "COALESCE(SUM(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END),0), "
            "COALESCE(SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END),0)"
        )
        sql = f"SELECT {expr + ' AS g, ' if expr else ''}{sel} FROM usage_records WHERE " + (
            " AND ".join(where)
        )
        if expr:
            sql += " GROUP BY g ORDER BY g"
        rows = await self.fetch(sql, *args)
        out = []
        for r in rows:
            off = 1 if expr else 0
            row: dict[str, Any] = {by: r[0]} if by is not None else {}
            row.update(
                requests=int(r[off]),
                prompt_tokens=int(r[off + 1]),
                completion_tokens=int(r[off + 2]),
                cached_tokens=int(r[off + 3]),
                cost_usd=round(float(r[off + 4]), 10),
                saved_usd=round(float(r[off + 5]), 10),
                cache_hits=int(r[off + 6]),
                # Every request is recorded, refused ones too: say which were answered.
                answered=int(r[off]) - int(r[off + 7]) - int(r[off + 8]),
                refused=int(r[off + 7]),  # 4xx: limits, budgets, unknown models, 499
                failed=int(r[off + 8]),  # 5xx: the upstream or the gateway failed
            )
            row["total_tokens"] = row["prompt_tokens"] + row["completion_tokens"]
            out.append(row)
        return out

    async def spent(self, column: str, subject: str, since: float) -> tuple[float, int]:
        """Cost and tokens of a key/org/user since a time (budget seeding)."""
        assert column in ("key_id", "org_id", "user_id")
        r = await self.fetchone(
            "SELECT COALESCE(SUM(cost_usd),0), "
            "COALESCE(SUM(prompt_tokens),0) + COALESCE(SUM(completion_tokens),0) "
            f"FROM usage_records WHERE {column} = ? AND ts >= ?",
            subject,
            since,
        )
        assert r is not None
        return float(r[0]), int(r[1])

    # --- budgets shared by every process on this database ------------------------------
    _for_update = ""  # PostgreSQL: lock the ledger rows for the rest of the transaction

    async def budget_reserve(
        self,
        hold_id: str,
        lines: list[LedgerLine],
        usd: float,
        tokens: int,
        now: float,
        expires_at: float,
    ) -> None:
        """Check every line and hold `usd`/`tokens` on all of them, in one transaction
        (rows locked in a fixed order), or raise OverBudget and hold nothing."""
        async with self.transaction() as tx:
            for ln in sorted(lines, key=lambda x: x.lkey):
                assert ln.column in ("key_id", "org_id")
                await tx.execute(
                    "INSERT INTO budget_ledger (lkey, spent_usd, spent_tokens) "
                    "SELECT ?, COALESCE(SUM(cost_usd),0), "
                    "COALESCE(SUM(prompt_tokens),0) + COALESCE(SUM(completion_tokens),0) "
                    f"FROM usage_records WHERE {ln.column} = ? AND ts >= ? "
                    "ON CONFLICT (lkey) DO NOTHING",
                    ln.lkey,
                    ln.subject,
                    ln.since,
                )
                (spent_usd, spent_tokens), *_ = await tx.fetch(
                    "SELECT spent_usd, spent_tokens FROM budget_ledger WHERE lkey = ?"
                    + self._for_update,
                    ln.lkey,
                )
                await tx.execute(
                    "DELETE FROM budget_holds WHERE lkey = ? AND expires_at <= ?", ln.lkey, now
                )
                (held_usd, held_tokens), *_ = await tx.fetch(
                    "SELECT COALESCE(SUM(usd),0), COALESCE(SUM(tokens),0) FROM budget_holds "
                    "WHERE lkey = ?",
                    ln.lkey,
                )
                used_usd = float(spent_usd) + float(held_usd)
                used_tokens = int(spent_tokens) + int(held_tokens)
                if ln.usd_limit is not None and used_usd + usd > ln.usd_limit + 1e-12:
                    raise OverBudget(ln, "usd", used_usd)
                if ln.tokens_limit is not None and used_tokens + tokens > ln.tokens_limit:
                    raise OverBudget(ln, "tokens", used_tokens)
                await tx.execute(
                    "INSERT INTO budget_holds (id, lkey, usd, tokens, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    hold_id,
                    ln.lkey,
                    usd,
                    tokens,
                    expires_at,
                )

    async def budget_settle(self, hold_id: str, lkeys: list[str], usd: float, tokens: int) -> None:
        """Replace a hold by what the request really cost."""
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM budget_holds WHERE id = ?", hold_id)
            for lkey in sorted(lkeys):
                await tx.execute(
                    "UPDATE budget_ledger SET spent_usd = spent_usd + ?, "
                    "spent_tokens = spent_tokens + ? WHERE lkey = ?",
                    usd,
                    tokens,
                    lkey,
                )

    async def recent_usage(
        self,
        limit: int = 50,
        *,
        before: str | None = None,
        since: float | None = None,
        org_id: str | None = None,
        key_id: str | None = None,
        model: str | None = None,
        deployment: str | None = None,
        errors_only: bool = False,
    ) -> list[dict[str, Any]]:
        """The latest usage records, newest first (record ids sort by time: the primary
        key serves the order), each with its key's prefix. `before`: a record id, to page."""
        where, args = ["1=1"], []
        for col, op, val in (
            ("u.id", "<", before),
            ("u.ts", ">=", since),
            ("u.org_id", "=", org_id),
            ("u.key_id", "=", key_id),
            ("u.model", "=", model),
            ("u.deployment", "=", deployment),
        ):
            if val is not None:
                where.append(f"{col} {op} ?")
                args.append(val)
        if errors_only:
            where.append("u.status >= 400")
        cols = ", ".join("u." + c for c in USAGE_COLUMNS)
        rows = await self.fetch(
            f"SELECT {cols}, k.prefix FROM usage_records u "
            "LEFT JOIN api_keys k ON k.id = u.key_id WHERE "
            + " AND ".join(where)
            + " ORDER BY u.id DESC LIMIT ?",
            *args,
            limit,
        )
        n = len(USAGE_COLUMNS)
        return [{**dict(zip(USAGE_COLUMNS, r[:n], strict=True)), "key_prefix": r[n]} for r in rows]

    async def usage_health(self, since: float, sample: int = 10_000) -> dict[str, Any]:
        """Errors since a time, and the latencies (ms) of the latest `sample` requests in it."""
        r = await self.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),0) "
            "FROM usage_records WHERE ts >= ?",
            since,
        )
        lat = await self.fetch(
            "SELECT latency_ms FROM usage_records WHERE ts >= ? ORDER BY id DESC LIMIT ?",
            since,
            sample,
        )
        return {"errors": int(r[0]) if r else 0, "latencies_ms": [float(x[0]) for x in lat]}

    async def usage_rows(self, request_id: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(USAGE_COLUMNS)} FROM usage_records"
        args: list[Any] = []
        if request_id is not None:
            sql += " WHERE request_id = ?"
            args.append(request_id)
        rows = await self.fetch(sql + " ORDER BY ts", *args)
        return [dict(zip(USAGE_COLUMNS, r, strict=True)) for r in rows]
