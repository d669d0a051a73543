"""`aigw config check`: every problem at once, each at the path the user wrote, with the
closest valid key for a typo; exit 0 for a good config, 2 for a bad one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app
from aigw.providers import registry

_register()

BAD = """\
servr: {port: 8080}
server: {prot: 1, read_timeout: soon}
providers:
  openai: {api_key: "${AIGW_TEST_UNSET_VAR}", timeot: 5s}
  mine: {base_url: http://x}
models:
  gpt: {provider: openai, wieght: 2}
  multi:
    - {provider: openai, model: a, max_concurency: 3}
  bad: {provider: nowhere, fallbacks: [gpt, zz]}
cache: {enabled: true, semantic: {top_kk: 3}}
"""

EXPECTED = [
    "config error: providers.openai.api_key: environment variable AIGW_TEST_UNSET_VAR is not "
    "set (write ${AIGW_TEST_UNSET_VAR:-} to make it optional)",
    "config error: server.read_timeout: invalid duration 'soon' (use e.g. 500ms, 30s, 5m)",
    "config error: server.prot: unknown key (did you mean 'port'?)",
    "config error: providers.openai.timeot: unknown key (did you mean 'timeout'?)",
    f"config error: providers.mine.type: missing (one of {', '.join(registry.names())})",
    # The short forms of `models:`: the path the user wrote, not `deployments.0`.
    "config error: models.gpt.wieght: unknown key (did you mean 'weight'?)",
    "config error: models.multi.0.max_concurency: unknown key (did you mean 'max_concurrency'?)",
    "config error: cache.semantic.top_kk: unknown key (did you mean 'top_k'?)",
    # Cross-references, in the same run as the problems of the sections themselves.
    "config error: models.bad.provider: unknown provider 'nowhere' (configured: openai, mine)",
    "config error: models.bad.fallbacks: unknown model 'zz'",
    "config error: servr: unknown key (did you mean 'server'?)",
]


def test_every_problem_at_once_as_written(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD)
    env = {k: v for k, v in os.environ.items() if k != "AIGW_TEST_UNSET_VAR"}
    r = subprocess.run(
        [sys.executable, "-m", "aigw", "config", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert sorted(lines[:-1]) == sorted(EXPECTED)
    assert lines[-1] == f"{cfg}: 11 problems"
    assert "more)" not in r.stderr and "deployments" not in r.stderr


def test_cross_references_are_named_as_written(tmp_path: Path) -> None:
    cfg = tmp_path / "refs.yaml"
    cfg.write_text(
        "providers: {openai: {api_key: k}}\n"
        "models:\n"
        "  a: {provider: nowhere}\n"
        "  b: [{provider: openai}, {provider: gone}]\n"
        "  c: {provider: openai, fallbacks: [zz]}\n"
    )
    r = CliRunner().invoke(cli_app, ["config", "check", "--config", str(cfg)])
    assert r.exit_code == 2
    assert "config error: models.a.provider: unknown provider 'nowhere'" in r.stderr
    assert "config error: models.b.1.provider: unknown provider 'gone'" in r.stderr
    assert "config error: models.c.fallbacks: unknown model 'zz'" in r.stderr
    assert r.stderr.splitlines()[-1] == f"{cfg}: 3 problems"


def test_a_good_config_is_ok(tmp_path: Path) -> None:
    cfg = tmp_path / "good.yaml"
    cfg.write_text(
        f"providers: {{openai: {{api_key: k}}}}\nmodels: {{gpt: {{provider: openai}}}}\n"
        f"database: sqlite:///{tmp_path}/x.db\n"
    )
    r = CliRunner().invoke(cli_app, ["config", "check", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{cfg}: ok (1 providers: openai; 1 models;")
    # The shipped examples check clean too.
    root = Path(__file__).resolve().parent.parent
    for shipped in ("config.example.yaml", "config.try.yaml"):
        r = CliRunner().invoke(cli_app, ["config", "check", "--config", str(root / shipped)])
        assert r.exit_code == 0, (shipped, r.output)


def test_invalid_yaml_is_one_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("server: [1, 2\n")
    r = CliRunner().invoke(cli_app, ["config", "check", "--config", str(cfg)])
    assert r.exit_code == 2
    assert "invalid YAML at line" in r.stderr
    assert r.stderr.splitlines()[-1] == f"{cfg}: 1 problem"
