"""The `aigw` command: serve | keys | usage | migrate | bench | batches | mock | config.

Each sub-command lives in its own module and registers itself here with one line.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperOption

from aigw import __version__

_value_type = TyperOption.display_type_rich


def _flag_takes_no_value(self: TyperOption, ctx: Any) -> str | None:
    # Typer's rich help prints `--json <bool>` (even `--help <bool>`) although a flag takes
    # no value; its plain help already leaves flags bare. Same here: `--json`.
    return None if self.is_flag else _value_type(self, ctx)


TyperOption.display_type_rich = _flag_takes_no_value  # type: ignore[method-assign]

app = typer.Typer(
    name="aigw",
    help="aigw: an AI gateway speaking the OpenAI API in front of many providers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aigw {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


def _register() -> None:
    from aigw.cli import serve

    serve.register(app)
    __import__("aigw.cli.migrate").cli.migrate.register(app)
    __import__("aigw.cli.keys").cli.keys.register(app)
    __import__("aigw.cli.usage").cli.usage.register(app)
    __import__("aigw.cli.bench").cli.bench.register(app)
    __import__("aigw.cli.batches").cli.batches.register(app)
    __import__("aigw.cli.mock").cli.mock.register(app)
    __import__("aigw.cli.config_check").cli.config_check.register(app)


def main() -> None:
    _register()
    # Named `aigw` under `python -m aigw` too: shell completion is installed for that name.
    app(prog_name="aigw")
