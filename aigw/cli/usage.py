"""`aigw usage`: usage and cost reports from the same database as `aigw serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from aigw.billing import report
from aigw.cli.migrate import ConfigOption, load_config, with_store
from aigw.store import Store


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)


def usage(
    org: str | None = typer.Option(None, "--org", help="Only this organisation."),
    key: str | None = typer.Option(None, "--key", help="Only this key id."),
    since: str | None = typer.Option(None, "--since", help="2026-11-01, an ISO time, or 7d."),
    until: str | None = typer.Option(None, "--until", help="End (exclusive; a date: its end)."),
    by: str = typer.Option("model", "--by", help="Group by model | day | key | org."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = ConfigOption,
) -> None:
    """Requests (answered, refused, failed), tokens and cost, grouped (a table, or JSON)."""
    cfg = load_config(config)
    if by not in report.GROUPS:
        typer.echo(f"error: --by: one of {', '.join(report.GROUPS)}", err=True)
        raise typer.Exit(2)
    try:
        t0 = report.parse_time(since)
        t1 = report.parse_time(until, end=True)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    async def work(store: Store) -> dict[str, Any]:
        return await report.usage(store, org_id=org, key_id=key, since=t0, until=t1, groups=[by])

    data = with_store(cfg, work)
    if as_json:
        typer.echo(orjson.dumps(data).decode())
        return
    scope = ", ".join(
        f"{k} {v}" for k, v in (("org", org), ("key", key), ("since", since), ("until", until)) if v
    )
    t = Table(title=f"usage by {by}" + (f" ({scope})" if scope else ""))
    t.add_column(by)
    for col in (
        "requests",
        "answered",
        "refused 4xx",
        "failed 5xx",
        "prompt",
        "completion",
        "cached",
        "cache hits",
        "cost $",
        "saved $",
    ):
        t.add_column(col, justify="right")

    def row(label: str, r: dict[str, Any], style: str | None = None) -> None:
        t.add_row(
            label,
            f"{r['requests']:,}",
            f"{r['answered']:,}",
            f"{r['refused']:,}",
            f"{r['failed']:,}",
            f"{r['prompt_tokens']:,}",
            f"{r['completion_tokens']:,}",
            f"{r['cached_tokens']:,}",
            f"{r['cache_hits']:,}",
            f"{r['cost_usd']:.6f}",
            f"{r['saved_usd']:.6f}",
            style=style,
        )

    for r in data[f"by_{by}"]:
        row(str(r[by]) if r[by] is not None else "-", r)
    row("total", data["totals"], style="bold")
    Console(width=200).print(t)
