"""`aigw migrate up | down [N] | status`: the database schema, per dialect."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from aigw import config as configmod
from aigw.config import Config, ConfigError
from aigw.store import Store, StoreUnavailable, open_store
from aigw.store import migrations as mig

T = TypeVar("T")

ConfigOption = typer.Option(
    None, "--config", "-c", envvar="AIGW_CONFIG", help="YAML config file (as for `aigw serve`)."
)


def load_config(path: Path | None) -> Config:
    """The same config `aigw serve` would use, so the CLI finds the same database."""
    try:
        return configmod.load(path)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None


def with_store(cfg: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    """Connect, run `work`, close; a database that cannot be reached is a one-line error."""

    async def run() -> T:
        store = open_store(cfg)
        await store.connect()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailable as e:
        typer.echo(f"error: database unavailable: {e}", err=True)
        raise typer.Exit(1) from None


migrate_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")


def _fmt_ts(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@migrate_app.command("up")
def up_cmd(config: Path | None = ConfigOption) -> None:
    """Apply every pending migration."""
    cfg = load_config(config)
    ran = with_store(cfg, mig.up)
    where = cfg.database.describe(cfg.data_dir)
    if not ran:
        typer.echo(f"{where}: already up to date")
    for m in ran:
        typer.echo(f"{where}: applied {m.version:03d}_{m.name}")


@migrate_app.command("down")
def down_cmd(
    steps: int = typer.Argument(1, min=1, help="How many migrations to undo."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    config: Path | None = ConfigOption,
) -> None:
    """Undo the last N applied migrations (default 1); asks first unless --yes."""
    cfg = load_config(config)
    where = cfg.database.describe(cfg.data_dir)

    async def work(store: Store) -> list[mig.Migration]:
        if not yes:
            # Reverting drops tables and their rows (keys, usage): say what goes, then ask.
            applied = [r for r in await mig.status(store) if r["applied"]]
            doomed = applied[-steps:][::-1]
            if doomed:
                names = ", ".join(f"{r['version']:03d}_{r['name']}" for r in doomed)
                typer.echo(f"{where}: this reverts {names} and deletes the data they hold")
                if not typer.confirm("Continue?", default=False):
                    typer.echo("aborted: nothing changed", err=True)
                    raise typer.Exit(1)
        return await mig.down(store, steps)

    ran = with_store(cfg, work)
    if not ran:
        typer.echo(f"{where}: nothing to undo")
    for m in ran:
        typer.echo(f"{where}: reverted {m.version:03d}_{m.name}")


@migrate_app.command("status")
def status_cmd(
    config: Path | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show which migrations are applied."""
    cfg = load_config(config)
    rows: list[dict[str, Any]] = with_store(cfg, mig.status)
    if as_json:
        import orjson

        typer.echo(orjson.dumps(rows).decode())
        return
    table = Table(title=f"migrations: {cfg.database.describe(cfg.data_dir)}")
    for col in ("version", "name", "status", "applied at (UTC)"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r['version']:03d}",
            r["name"],
            "applied" if r["applied"] else "pending",
            _fmt_ts(r["applied_at"]),
        )
    Console(width=120).print(table)
    pending = sum(1 for r in rows if not r["applied"])
    typer.echo(f"{len(rows) - pending} applied, {pending} pending")
