"""`aigw batches list | show | cancel`: batch jobs in the same database as `aigw serve`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aigw.batches.store import BatchStore
from aigw.cli.migrate import ConfigOption, load_config, with_store
from aigw.store import Store
from aigw.store import migrations as mig

T = TypeVar("T")

batches_app = typer.Typer(help="Batch jobs: list, show, cancel.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(batches_app, name="batches")


def _run(config: Path | None, work: Callable[[BatchStore], Awaitable[T]]) -> T:
    cfg = load_config(config)

    async def go(store: Store) -> T:
        try:
            await mig.check(store, auto_if_empty=store.dialect == "sqlite")
        except mig.NotMigrated as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        return await work(BatchStore(store))

    return with_store(cfg, go)


def _ts(v: float | int | None) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S") if v else "-"


def _counts(b: dict[str, Any]) -> str:
    c = b["request_counts"]
    return f"{c['completed']}/{c['total']}" + (f" ({c['failed']} failed)" if c["failed"] else "")


@batches_app.command("list")
def list_batches(
    org: str | None = typer.Option(None, "--org", help="Only this organisation's batches."),
    status: str | None = typer.Option(None, "--status", help="Only batches in this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Newest first, this many."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """List batches, newest first, with their progress."""

    async def work(bs: BatchStore) -> list[tuple[str, dict[str, Any]]]:
        rows, _ = await bs.list_batches(org, None, limit, status)
        return [(r.org_id, r.to_openai(await bs.live_counts(r))) for r in rows]

    batches = _run(config, work)
    if as_json:
        typer.echo(orjson.dumps([{**b, "org": org_id} for org_id, b in batches]).decode())
        return
    t = Table(title="Batches")
    for col in ("id", "org", "status", "endpoint", "done", "created", "output", "errors"):
        t.add_column(col)
    for org_id, b in batches:
        t.add_row(
            b["id"],
            org_id,
            b["status"],
            b["endpoint"],
            _counts(b),
            _ts(b["created_at"]),
            b["output_file_id"] or "-",
            b["error_file_id"] or "-",
        )
    Console(width=180).print(t)


def _get(batch_id: str, config: Path | None) -> tuple[str, dict[str, Any]]:
    async def work(bs: BatchStore) -> tuple[str, dict[str, Any]] | None:
        r = await bs.get_batch(batch_id)
        return None if r is None else (r.org_id, r.to_openai(await bs.live_counts(r)))

    got = _run(config, work)
    if got is None:
        typer.echo(f"error: no batch {batch_id}", err=True)
        raise typer.Exit(1)
    return got


@batches_app.command("show")
def show(
    batch_id: str = typer.Argument(..., help="The batch id (batch_...)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """One batch: status, progress, times, files, validation errors."""
    org_id, b = _get(batch_id, config)
    if as_json:
        typer.echo(orjson.dumps({**b, "org": org_id}).decode())
        return
    t = Table(title=f"Batch {b['id']}", show_header=False)
    t.add_column("field")
    t.add_column("value")
    t.add_row("org", org_id)
    for k in ("status", "endpoint", "model", "input_file_id", "output_file_id", "error_file_id"):
        t.add_row(k, str(b[k] or "-"))
    t.add_row("requests", _counts(b))
    for k in (
        "created_at",
        "in_progress_at",
        "finalizing_at",
        "completed_at",
        "failed_at",
        "expired_at",
        "cancelling_at",
        "cancelled_at",
        "expires_at",
    ):
        if b[k]:
            t.add_row(k, _ts(b[k]))
    if b["usage"]:
        t.add_row("tokens", f"{b['usage']['input_tokens']} in, {b['usage']['output_tokens']} out")
    if b["metadata"]:
        t.add_row("metadata", orjson.dumps(b["metadata"]).decode())
    for e in (b["errors"] or {}).get("data") or []:
        t.add_row(
            f"error (line {e['line']})" if e["line"] else "error", f"{e['code']}: {e['message']}"
        )
    Console(width=160).print(t)


@batches_app.command("cancel")
def cancel(
    batch_id: str = typer.Argument(..., help="The batch id (batch_...)."),
    config: Path | None = ConfigOption,
) -> None:
    """Cancel a batch: lines in flight finish, the rest are not run; the files keep what was
    done. Running servers see it at their next claim."""

    async def work(bs: BatchStore) -> Any:
        return await bs.cancel(batch_id, None, time.time())

    row = _run(config, work)
    if row is None:
        typer.echo(f"error: no batch {batch_id}", err=True)
        raise typer.Exit(1)
    if row.status != "cancelling":
        typer.echo(f"error: batch {batch_id} is {row.status}; it cannot be cancelled", err=True)
        raise typer.Exit(1)
    typer.echo(f"cancelling {batch_id}")
