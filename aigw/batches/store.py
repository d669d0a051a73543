"""The batches' queries, over the gateway's Store (SQLite or PostgreSQL, same SQL).

A line's life: `pending` -> claimed (`running`, with the claimer's name and a lease) -> `done`
with its result, written by one UPDATE that also checks the claim is still the writer's. A
worker renews its leases while it lives; a line whose lease ran out is claimable again (or
failed, with `batches.on_interrupted: fail`). On PostgreSQL the claim locks the rows it takes
and skips those another instance is taking (`FOR UPDATE SKIP LOCKED`); on SQLite the claim
is one write transaction, which serialises the workers of one file.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from aigw.batches.objects import FINAL, TIMES, BatchRow, FileRow, batch_usage, file_line
from aigw.batches.validation import Line
from aigw.ids import ordered_id
from aigw.store.base import Store

_FILE_COLS = "id, org_id, purpose, filename, bytes, created_at, expires_at"
_BATCH_COLS = (
    "id, org_id, key_id, principal, endpoint, input_file_id, completion_window, status, "
    "metadata, errors, output_file_id, error_file_id, total, completed, failed, usage, model, "
    "created_at, " + ", ".join(TIMES)
)
_INSERT_CHUNK = 500  # lines per INSERT statement (4 parameters each)
_READ_CHUNK = 2000  # lines per read while writing the result files


def _j(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


def _unj(v: Any) -> Any:
    return None if v is None else orjson.loads(v)


def _file(r: Sequence[Any]) -> FileRow:
    return FileRow(r[0], r[1], r[2], r[3], int(r[4]), float(r[5]), r[6])


def _batch(r: Sequence[Any]) -> BatchRow:
    return BatchRow(
        id=r[0],
        org_id=r[1],
        key_id=r[2],
        principal=_unj(r[3]),
        endpoint=r[4],
        input_file_id=r[5],
        completion_window=r[6],
        status=r[7],
        metadata=_unj(r[8]),
        errors=_unj(r[9]),
        output_file_id=r[10],
        error_file_id=r[11],
        total=int(r[12]),
        completed=int(r[13]),
        failed=int(r[14]),
        usage=_unj(r[15]),
        model=r[16],
        created_at=float(r[17]),
        times=dict(zip(TIMES, r[18:26], strict=True)),
    )


def new_file_id() -> str:
    return "file-" + ordered_id()


class BatchStore:
    def __init__(self, store: Store) -> None:
        self.s = store
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgres" else ""

    # --- files -------------------------------------------------------------------------
    async def insert_file(self, f: FileRow, content: bytes) -> None:
        await self.s.execute(
            f"INSERT INTO files ({_FILE_COLS}, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            f.id,
            f.org_id,
            f.purpose,
            f.filename,
            f.bytes,
            f.created_at,
            f.expires_at,
            content,
        )

    async def get_file(self, file_id: str, org_id: str | None) -> FileRow | None:
        sql, args = f"SELECT {_FILE_COLS} FROM files WHERE id = ?", [file_id]
        if org_id is not None:
            sql += " AND org_id = ?"
            args.append(org_id)
        r = await self.s.fetchone(sql, *args)
        return _file(r) if r else None

    async def file_content(self, file_id: str, org_id: str | None) -> bytes | None:
        sql, args = "SELECT content FROM files WHERE id = ?", [file_id]
        if org_id is not None:
            sql += " AND org_id = ?"
            args.append(org_id)
        r = await self.s.fetchone(sql, *args)
        return bytes(r[0]) if r else None

    async def list_files(
        self, org_id: str | None, purpose: str | None, after: str | None, limit: int, order: str
    ) -> tuple[list[FileRow], bool]:
        desc = order == "desc"
        sql, args = f"SELECT {_FILE_COLS} FROM files WHERE 1=1", []
        if org_id is not None:
            sql += " AND org_id = ?"
            args.append(org_id)
        if purpose:
            sql += " AND purpose = ?"
            args.append(purpose)
        if after:
            sql += " AND id < ?" if desc else " AND id > ?"
            args.append(after)
        sql += f" ORDER BY id {'DESC' if desc else 'ASC'} LIMIT ?"
        rows = await self.s.fetch(sql, *args, limit + 1)
        return [_file(r) for r in rows[:limit]], len(rows) > limit

    async def count_files(self, org_id: str) -> int:
        r = await self.s.fetchone("SELECT COUNT(*) FROM files WHERE org_id = ?", org_id)
        return int(r[0]) if r else 0

    async def count_active(self, org_id: str) -> int:
        r = await self.s.fetchone(
            "SELECT COUNT(*) FROM batches WHERE org_id = ? AND status IN "
            "('validating', 'in_progress', 'finalizing', 'cancelling')",
            org_id,
        )
        return int(r[0]) if r else 0

    async def delete_file(self, file_id: str, org_id: str) -> bool:
        async with self.s.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM files WHERE id = ? AND org_id = ? RETURNING id", file_id, org_id
            )
        return bool(rows)

    # --- batches -----------------------------------------------------------------------
    async def insert_batch(self, b: BatchRow) -> None:
        await self.s.execute(
            "INSERT INTO batches (id, org_id, key_id, principal, endpoint, input_file_id, "
            "completion_window, status, metadata, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            b.id,
            b.org_id,
            b.key_id,
            _j(b.principal),
            b.endpoint,
            b.input_file_id,
            b.completion_window,
            b.status,
            _j(b.metadata),
            b.created_at,
            b.times["expires_at"],
        )

    async def get_batch(self, batch_id: str, org_id: str | None = None) -> BatchRow | None:
        sql, args = f"SELECT {_BATCH_COLS} FROM batches WHERE id = ?", [batch_id]
        if org_id is not None:
            sql += " AND org_id = ?"
            args.append(org_id)
        r = await self.s.fetchone(sql, *args)
        return _batch(r) if r else None

    async def list_batches(
        self, org_id: str | None, after: str | None, limit: int, status: str | None = None
    ) -> tuple[list[BatchRow], bool]:
        sql, args = f"SELECT {_BATCH_COLS} FROM batches WHERE 1=1", []
        for cond, v in (("org_id = ?", org_id), ("id < ?", after), ("status = ?", status)):
            if v is not None:
                sql += " AND " + cond
                args.append(v)
        rows = await self.s.fetch(sql + " ORDER BY id DESC LIMIT ?", *args, limit + 1)
        return [_batch(r) for r in rows[:limit]], len(rows) > limit

    async def live_counts(self, b: BatchRow) -> tuple[int, int, int]:
        """(total, completed, failed) of a batch still running; a finished one keeps its own."""
        if b.status in FINAL:
            return b.total, b.completed, b.failed
        r = await self.s.fetchone(
            "SELECT COALESCE(SUM(CASE WHEN ok = 1 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END), 0) "
            "FROM batch_lines WHERE batch_id = ? AND state = 'done'",
            b.id,
        )
        assert r is not None
        return b.total, int(r[0]), int(r[1])

    async def cancel(self, batch_id: str, org_id: str | None, now: float) -> BatchRow | None:
        """validating | in_progress -> cancelling; the workers finish what is in flight and
        then write what was done. Other states are left as they are."""
        sql = (
            "UPDATE batches SET status = 'cancelling', cancelling_at = ? "
            "WHERE id = ? AND status IN ('validating', 'in_progress')"
        )
        args: list[Any] = [now, batch_id]
        if org_id is not None:
            sql += " AND org_id = ?"
            args.append(org_id)
        await self.s.execute(sql, *args)
        return await self.get_batch(batch_id, org_id)

    # --- the worker: validation --------------------------------------------------------
    async def take_validating(self, now: float, lease: float) -> BatchRow | None:
        """One batch waiting for validation, leased to the caller."""
        async with self.s.transaction() as tx:
            rows = await tx.fetch(
                "WITH picked AS MATERIALIZED (SELECT id FROM batches "
                "WHERE status = 'validating' AND (lease_until IS NULL OR lease_until < ?) "
                f"ORDER BY id LIMIT 1{self._skip_locked}) "
                "UPDATE batches SET lease_until = ? WHERE id IN (SELECT id FROM picked) "
                "RETURNING id",
                now,
                now + lease,
            )
        return await self.get_batch(rows[0][0]) if rows else None

    async def start(self, batch_id: str, lines: list[Line], model: str | None) -> bool:
        """validating -> in_progress with every line pending, in one transaction (a crash
        half-way leaves the batch validating, to be validated again)."""
        now = time.time()
        async with self.s.transaction() as tx:
            ok = await tx.fetch(
                "UPDATE batches SET status = 'in_progress', in_progress_at = ?, total = ?, "
                "model = ?, lease_until = NULL WHERE id = ? AND status = 'validating' "
                "RETURNING id",
                now,
                len(lines),
                model,
                batch_id,
            )
            if not ok:
                return False  # cancelled meanwhile
            for i in range(0, len(lines), _INSERT_CHUNK):
                chunk = lines[i : i + _INSERT_CHUNK]
                marks = ", ".join("(?, ?, ?, ?)" for _ in chunk)
                args: list[Any] = []
                for ln in chunk:
                    args += (batch_id, ln.line_no, ln.custom_id, ln.body.decode())
                await tx.execute(
                    f"INSERT INTO batch_lines (batch_id, line_no, custom_id, body) VALUES {marks}",
                    *args,
                )
        return True

    async def fail_validation(self, batch_id: str, errors: list[dict[str, Any]]) -> None:
        await self.s.execute(
            "UPDATE batches SET status = 'failed', failed_at = ?, errors = ?, "
            "lease_until = NULL WHERE id = ? AND status = 'validating'",
            time.time(),
            _j(errors),
            batch_id,
        )

    # --- the worker: lines -------------------------------------------------------------
    async def runnable(self) -> list[BatchRow]:
        """Batches whose lines may be claimed, oldest first."""
        rows = await self.s.fetch(
            f"SELECT {_BATCH_COLS} FROM batches WHERE status = 'in_progress' "
            "AND expired_at IS NULL ORDER BY id LIMIT 100"
        )
        return [_batch(r) for r in rows]

    async def claim(
        self, batch_id: str, worker: str, n: int, now: float, lease: float, reclaim: bool
    ) -> list[tuple[int, str, str, int]]:
        """Up to `n` lines of the batch, in file order: (line_no, custom_id, body, attempts);
        none once the batch is cancelled or expired. With `reclaim`, lines whose worker's
        lease ran out are taken too."""
        cond = "(state = 'pending' AND (lease_until IS NULL OR lease_until <= ?))"
        args: list[Any] = [now]
        if reclaim:
            cond = f"({cond} OR (state = 'running' AND lease_until < ?))"
            args.append(now)
        async with self.s.transaction() as tx:
            rows = await tx.fetch(
                # The pick is materialised once: PostgreSQL may otherwise run an IN (...
                # LIMIT n SKIP LOCKED) subquery again per row and take more than n lines.
                "WITH picked AS MATERIALIZED (SELECT line_no FROM batch_lines "
                f"WHERE batch_id = ? AND {cond} AND EXISTS (SELECT 1 FROM batches "
                "WHERE id = ? AND status = 'in_progress' AND expired_at IS NULL) "
                f"ORDER BY line_no LIMIT ?{self._skip_locked}) "
                "UPDATE batch_lines SET state = 'running', claim = ?, lease_until = ?, "
                "attempts = attempts + 1 WHERE batch_id = ? "
                "AND line_no IN (SELECT line_no FROM picked) "
                "RETURNING line_no, custom_id, body, attempts",
                batch_id,
                *args,
                batch_id,
                n,
                worker,
                now + lease,
                batch_id,
            )
        return sorted((int(r[0]), r[1], r[2], int(r[3])) for r in rows)

    async def record(
        self,
        batch_id: str,
        line_no: int,
        worker: str,
        ok: bool,
        request_id: str,
        result: bytes,
        tokens: tuple[int, int, int],
    ) -> None:
        """A line's result, written only while the caller still holds its claim: a line
        another worker has taken over (this one's lease ran out) keeps that one's result.
        One statement, so the result and the line's state change together."""
        await self.s.execute(
            "UPDATE batch_lines SET state = 'done', ok = ?, request_id = ?, result = ?, "
            "prompt_tokens = ?, completion_tokens = ?, cached_tokens = ?, finished_at = ?, "
            "lease_until = NULL WHERE batch_id = ? AND line_no = ? AND claim = ? "
            "AND state = 'running'",
            int(ok),
            request_id,
            result.decode(),
            *tokens,
            time.time(),
            batch_id,
            line_no,
            worker,
        )

    async def release(
        self, batch_id: str, line_no: int, worker: str, not_before: float, counted: bool
    ) -> None:
        """Give a claimed line back, to be run again from `not_before` on; an attempt the
        gateway itself turned away (its rate limits, its queue) is not counted."""
        await self.s.execute(
            "UPDATE batch_lines SET state = 'pending', claim = NULL, lease_until = ?, "
            f"attempts = attempts - {0 if counted else 1} "
            "WHERE batch_id = ? AND line_no = ? AND claim = ? AND state = 'running'",
            not_before,
            batch_id,
            line_no,
            worker,
        )

    async def renew(self, worker: str, until: float) -> None:
        await self.s.execute(
            "UPDATE batch_lines SET lease_until = ? WHERE claim = ? AND state = 'running'",
            until,
            worker,
        )

    async def fail_pending(self, batch_id: str, result: bytes) -> None:
        """Every line not yet run gets this result (over budget, expired)."""
        await self.s.execute(
            "UPDATE batch_lines SET state = 'done', ok = 0, result = ?, finished_at = ?, "
            "lease_until = NULL WHERE batch_id = ? AND state = 'pending'",
            result.decode(),
            time.time(),
            batch_id,
        )

    async def fail_interrupted(self, now: float, result: bytes) -> None:
        """`on_interrupted: fail`: lines whose worker died in flight go to the error file."""
        await self.s.execute(
            "UPDATE batch_lines SET state = 'done', ok = 0, result = ?, finished_at = ?, "
            "lease_until = NULL WHERE state = 'running' AND lease_until < ?",
            result.decode(),
            now,
            now,
        )

    async def sweep_dead(self, now: float, expired: bytes) -> None:
        """Lines a dead worker held in a batch that is ending: no one will claim them again,
        so an expired batch fails them and a cancelled one drops them (back to pending, which
        its files leave out), and the batch can be finished."""
        await self.s.execute(
            "UPDATE batch_lines SET state = 'done', ok = 0, result = ?, finished_at = ?, "
            "lease_until = NULL WHERE state = 'running' AND lease_until < ? AND batch_id IN "
            "(SELECT id FROM batches WHERE expired_at IS NOT NULL AND status <> 'cancelling')",
            expired.decode(),
            now,
            now,
        )
        await self.s.execute(
            "UPDATE batch_lines SET state = 'pending', claim = NULL, lease_until = NULL "
            "WHERE state = 'running' AND lease_until < ? AND batch_id IN "
            "(SELECT id FROM batches WHERE status = 'cancelling')",
            now,
        )

    async def expire(self, now: float, result: bytes) -> list[str]:
        """Batches past their completion window are marked expired and their lines not yet
        run get `result`, in one transaction; lines in flight finish."""
        async with self.s.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE batches SET expired_at = ? WHERE status IN ('validating', "
                "'in_progress') AND expired_at IS NULL AND expires_at < ? RETURNING id",
                now,
                now,
            )
            for (bid,) in rows:
                await tx.execute(
                    "UPDATE batch_lines SET state = 'done', ok = 0, result = ?, finished_at = ?, "
                    "lease_until = NULL WHERE batch_id = ? AND state = 'pending'",
                    result.decode(),
                    now,
                    bid,
                )
        return [r[0] for r in rows]

    # --- the worker: the end -----------------------------------------------------------
    async def take_finishable(self, now: float, lease: float) -> BatchRow | None:
        """A batch with nothing left to run (in flight lines of a cancelled one finished),
        leased to the caller, which writes its files."""
        async with self.s.transaction() as tx:
            rows = await tx.fetch(
                "WITH picked AS MATERIALIZED (SELECT b.id FROM batches b "
                "WHERE (b.status IN ('in_progress', 'finalizing', 'cancelling') "
                "OR (b.status = 'validating' AND b.expired_at IS NOT NULL)) "
                "AND (b.lease_until IS NULL OR b.lease_until < ?) "
                "AND NOT EXISTS (SELECT 1 FROM batch_lines l WHERE l.batch_id = b.id "
                "AND (l.state = 'running' OR (l.state = 'pending' AND b.status = 'in_progress'"
                f"))) ORDER BY b.id LIMIT 1{self._skip_locked}) "
                "UPDATE batches SET lease_until = ?, "
                "status = CASE WHEN status = 'cancelling' THEN status ELSE 'finalizing' END, "
                "finalizing_at = CASE WHEN status = 'cancelling' THEN finalizing_at "
                "ELSE COALESCE(finalizing_at, ?) END "
                "WHERE id IN (SELECT id FROM picked) RETURNING id",
                now,
                now + lease,
                now,
            )
        return await self.get_batch(rows[0][0]) if rows else None

    async def finish(self, b: BatchRow) -> None:
        """Write the output and error files (lines in input order), close the batch and drop
        its lines, in one transaction; a finaliser that dies leaves the batch to the next."""
        out: list[bytes] = []
        err: list[bytes] = []
        tokens = [0, 0, 0]
        after = 0
        while True:
            rows = await self.s.fetch(
                "SELECT line_no, custom_id, request_id, ok, result, prompt_tokens, "
                "completion_tokens, cached_tokens FROM batch_lines "
                "WHERE batch_id = ? AND line_no > ? AND state = 'done' "
                "ORDER BY line_no LIMIT ?",
                b.id,
                after,
                _READ_CHUNK,
            )
            for r in rows:
                req = f"batch_req_{r[2]}" if r[2] else f"batch_req_{b.id[6:]}_{r[0]}"
                line = file_line(req, r[1], str(r[4]).encode())
                (out if r[3] == 1 else err).append(line)
                tokens[0] += int(r[5])
                tokens[1] += int(r[6])
                tokens[2] += int(r[7])
            if len(rows) < _READ_CHUNK:
                break
            after = int(rows[-1][0])
        now = time.time()
        if b.status == "cancelling":
            final, at = "cancelled", "cancelled_at"
        elif b.times.get("expired_at") is not None:
            final, at = "expired", "expired_at"
        else:
            final, at = "completed", "completed_at"
        files = []
        ids: list[str | None] = []
        for kind, data in (("output", out), ("error", err)):
            if not data:
                ids.append(None)
                continue
            content = b"".join(data)
            fid = new_file_id()
            files.append((fid, f"{b.id}_{kind}.jsonl", content))
            ids.append(fid)
        async with self.s.transaction() as tx:
            done = await tx.fetch(
                f"UPDATE batches SET status = ?, {at} = COALESCE({at}, ?), output_file_id = ?, "
                "error_file_id = ?, completed = ?, failed = ?, usage = ?, lease_until = NULL "
                "WHERE id = ? AND status = ? RETURNING id",
                final,
                now,
                ids[0],
                ids[1],
                len(out),
                len(err),
                _j(batch_usage(*tokens)) if (out or err) else None,
                b.id,
                b.status,
            )
            if not done:
                return  # finished by another worker meanwhile
            # The files hold every result now; the lines (and their bodies) can go.
            await tx.execute("DELETE FROM batch_lines WHERE batch_id = ?", b.id)
            for fid, name, content in files:
                await tx.execute(
                    f"INSERT INTO files ({_FILE_COLS}, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    fid,
                    b.org_id,
                    "batch_output",
                    name,
                    len(content),
                    now,
                    None,
                    content,
                )

    # --- metrics -----------------------------------------------------------------------
    async def queue_stats(self) -> tuple[int, float | None]:
        """Lines waiting or running in running batches, and when the oldest of those
        batches started (its pending lines have waited since then)."""
        r = await self.s.fetchone(
            "SELECT COUNT(*), MIN(b.in_progress_at) FROM batch_lines l "
            "JOIN batches b ON b.id = l.batch_id "
            "WHERE b.status = 'in_progress' AND l.state IN ('pending', 'running')"
        )
        assert r is not None
        return int(r[0]), (float(r[1]) if r[1] is not None else None)
