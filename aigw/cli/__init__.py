"""The `aigw` command: serve | keys | usage | migrate | bench | mock | config.

Each sub-command lives in its own module and registers itself here with one line.
"""

from __future__ import annotations

import typer

from aigw import __version__

app = typer.Typer(
    name="aigw",
    help="aigw: an AI gateway speaking the OpenAI API in front of many providers.",
    no_args_is_help=True,
    add_completion=False,
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
    __import__("aigw.cli.mock").cli.mock.register(app)
    __import__("aigw.cli.config_check").cli.config_check.register(app)


def main() -> None:
    _register()
    app()
