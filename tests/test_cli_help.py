"""The CLI's help and shell completion: flags are shown bare (`--json`, not `--json <bool>`),
and `aigw --install-completion` / `--show-completion` work for bash, with real completions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app

_register()


def _commands() -> list[list[str]]:
    """Every command path: [], ["serve"], ["keys", "create"], ..."""
    root = typer.main.get_command(cli_app)
    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return out


def test_flags_are_shown_without_a_value() -> None:
    runner = CliRunner()
    paths = _commands()
    assert ["keys", "create"] in paths and ["config", "check"] in paths and ["mock"] in paths
    seen_json = 0
    for path in paths:
        r = runner.invoke(cli_app, [*path, "--help"], env={"COLUMNS": "160"}, terminal_width=160)
        assert r.exit_code == 0, (path, r.output)
        assert "<bool>" not in r.output, path
        for line in r.output.splitlines():
            if "--json " in line and "Machine-readable" in line:
                seen_json += 1
                after = line.split("--json", 1)[1].split("Machine-readable")[0]
                assert after.strip(" │") == "", line
        # Options that take a value still say which.
        if path == ["keys", "create"]:
            assert "<str>" in r.output
    assert seen_json >= 4  # keys create/list/rotate, usage, migrate status


def _aigw(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aigw", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def _complete(words: str, cword: int) -> list[str]:
    r = subprocess.run(
        [str(Path(sys.executable).parent / "aigw")],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "_AIGW_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        },
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_shell_completion(tmp_path: Path) -> None:
    r = _aigw("--show-completion", "bash")
    assert r.returncode == 0, r.stderr
    assert "complete -o default -F _aigw_completion aigw" in r.stdout
    assert _complete("aigw ke", 1) == ["keys"]
    assert _complete("aigw keys create --sc", 3) == ["--scopes"]
    assert set(_complete("aigw migrate ", 2)) == {"up", "down", "status"}
    # Installing writes the script and sources it from the shell's rc file.
    r = _aigw("--install-completion", "bash", HOME=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "_aigw_completion" in (tmp_path / ".bash_completions" / "aigw.sh").read_text()
    assert ".bash_completions/aigw.sh" in (tmp_path / ".bashrc").read_text()
