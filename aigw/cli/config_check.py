"""`aigw config check [--config FILE]`: every problem of a config at once, or "ok"."""

from __future__ import annotations

from pathlib import Path

import typer

from aigw import config as configmod
from aigw.cli.migrate import ConfigOption
from aigw.config import ConfigError

config_app = typer.Typer(help="The configuration: check it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("check")
def check(config: Path | None = ConfigOption) -> None:
    """Load the config as `aigw serve` would; print every problem (exit 2) or a summary (0)."""
    what = str(config) if config is not None else "the embedded defaults (no --config)"
    try:
        cfg = configmod.load(config)
    except ConfigError as e:
        problems = str(e).splitlines()
        for line in problems:
            typer.echo(line, err=True)
        n = len(problems)
        typer.echo(f"{what}: {n} problem{'s' if n != 1 else ''}", err=True)
        raise typer.Exit(2) from None
    providers = ", ".join(cfg.providers) or "none"
    typer.echo(
        f"{what}: ok ({len(cfg.providers)} providers: {providers}; {len(cfg.models)} models; "
        f"database {cfg.database.describe(cfg.data_dir)})"
    )
