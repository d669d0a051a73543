"""What the docs promise and what the code does: every metric and environment variable the
docs name exists; the deployment secrets are read under the documented name, and example
placeholders are refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.procs import ServeProcess

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = "\n".join(p.read_text() for p in (ROOT / "aigw").rglob("*.py"))
SHIPPED_CONFIGS = "\n".join(
    p.read_text() for p in [ROOT / "config.example.yaml", *(ROOT / "packaging").glob("*.y*ml")]
)
# Shell variables the README's examples set for curl; not read by aigw.
CLIENT_SIDE = {"AIGW_KEY"}

_METRIC = re.compile(
    r"`((?:aigw_)?(?:http|llm|cache|provider|queue|ratelimit|rate_limit|deployment|breaker|"
    r"usage|worker)_[a-z0-9_]+)(?:\{[^`]*\})?`"
)
_METRIC_SHAPE = re.compile(r"^aigw_|_(total|seconds|bytes|active|errors|decisions|up)$")
_ENV = re.compile(r"\b(AIGW_[A-Z0-9_]+|[A-Z]+_API_KEY|[A-Z]+_BASE_URL)\b")


def _doc_text() -> str:
    return "\n".join(p.read_text() for p in DOCS)


def test_every_metric_the_docs_name_is_registered() -> None:
    text = _doc_text()
    named = set(_METRIC.findall(text))
    # The metric table of OBSERVABILITY.md names every metric; elsewhere, metric-shaped names.
    table = {
        m
        for line in (ROOT / "docs" / "OBSERVABILITY.md").read_text().splitlines()
        if line.startswith("| `")
        for m in _METRIC.findall(line.split("|")[1])
    }
    metrics = {m for m in named if _METRIC_SHAPE.search(m)} | table
    assert len(metrics) >= 25, sorted(metrics)  # the check found the metrics
    missing = sorted(m for m in metrics if f'"{m}"' not in CODE)
    assert not missing, f"docs name metrics the code never registers: {missing}"


def test_every_environment_variable_the_docs_name_is_read() -> None:
    from aigw.config import ENV_PROVIDERS  # built from the provider specs

    named = set(_ENV.findall(_doc_text())) - CLIENT_SIDE
    specs = {v for pair in ENV_PROVIDERS.values() for v in pair if v}
    assert {"AIGW_HASH_SECRET", "AIGW_ADMIN_KEY", "OPENAI_BASE_URL"} <= named
    unread = sorted(
        v for v in named - specs if f'"{v}"' not in CODE and "${" + v not in SHIPPED_CONFIGS
    )
    assert not unread, f"docs name variables neither the code nor a shipped config reads: {unread}"


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIGW_", "OPENAI_"))}
    return {**base, **extra}


def test_placeholder_secrets_are_refused(tmp_path: Path) -> None:
    for var, value, where in (
        ("AIGW_ADMIN_KEY", "change-me-admin-key", "AIGW_ADMIN_KEY"),
        ("AIGW_HASH_SECRET", "change-me-hash-secret", "auth.hash_secret"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "aigw", "serve", "--port", "0"],
            cwd=tmp_path,
            env=_env(**{var: value}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert f"refusing to start: {where} is still a placeholder" in r.stderr
        assert value not in r.stderr


async def test_aigw_hash_secret_is_the_pepper_of_the_embedded_defaults(tmp_path: Path) -> None:
    """`docker run -e AIGW_HASH_SECRET=...` (no config file): keys are hashed with it."""

    def create(**env: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "aigw", "keys", "create", "--org", "acme"],
            cwd=tmp_path,
            env=_env(AIGW_DATA_DIR=str(tmp_path / "data"), **env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    peppered = create(AIGW_HASH_SECRET="pepper-one")
    plain = create()
    env = _env(AIGW_DATA_DIR=str(tmp_path / "data"), AIGW_HASH_SECRET="pepper-one")
    srv = ServeProcess(None, tmp_path, env=env)  # no --config: the embedded defaults
    try:
        await srv.ready()
        async with aiohttp.ClientSession() as s:
            for key, status in ((peppered, 200), (plain, 401)):
                async with s.get(
                    srv.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}
                ) as r:
                    assert r.status == status, await r.text()
    finally:
        await srv.stop()


def test_the_readme_lists_every_variable_the_embedded_defaults_read() -> None:
    from aigw.config import ENV_PROVIDERS

    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Environment variables of the embedded defaults")
    table = readme[start : readme.index("\n## ", start)]
    read = {v for pair in ENV_PROVIDERS.values() for v in pair if v}
    read |= set(re.findall(r'(?:env|os\.environ)\.get\("(AIGW_[A-Z_]+)"', CODE))
    assert {"OPENAI_BASE_URL", "AIGW_DATA_DIR", "AIGW_HASH_SECRET", "AIGW_ADMIN_KEY"} <= read
    missing = sorted(v for v in read if f"`{v}`" not in table)
    assert not missing, f"README's table misses {missing}"
