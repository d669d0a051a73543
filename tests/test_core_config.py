"""Config: interpolation, defaults, short forms, and one clear line for each kind of mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aigw import config as configmod
from aigw.config import ConfigError, parse_duration, parse_size

SEED = """
server:    {host: 0.0.0.0, port: 8080, read_timeout: 30s, write_timeout: 30s, max_body_bytes: 10MB}
providers:
  openai:  {api_key: ${OPENAI_API_KEY}, base_url: https://api.openai.com/v1, timeout: 60s}
  vllm:    {type: openai, base_url: "${VLLM_URL:-http://localhost:8001/v1}", timeout: 30s}
models:
  gpt-4o-mini: {provider: openai}
  llama-3-8b:  {provider: vllm, model: meta-llama/Meta-Llama-3-8B-Instruct}
"""


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> configmod.Config:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return configmod.load(p, env=env if env is not None else {})


def test_seed_example_loads_with_interpolation(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, SEED, {"OPENAI_API_KEY": "sk-test"})
    assert cfg.server.port == 8080 and cfg.server.max_body_bytes == 10_000_000
    assert cfg.server.read_timeout == 30.0
    assert cfg.providers["openai"].api_key == "sk-test"
    assert cfg.providers["openai"].type == "openai"
    assert cfg.providers["vllm"].base_url == "http://localhost:8001/v1"  # the default
    d = cfg.models["llama-3-8b"].deployments[0]
    assert (d.provider, d.model, d.name) == (
        "vllm",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "vllm/meta-llama/Meta-Llama-3-8B-Instruct",
    )
    assert cfg.models["gpt-4o-mini"].deployments[0].model == "gpt-4o-mini"
    cfg = load_text(tmp_path, SEED, {"OPENAI_API_KEY": "k", "VLLM_URL": "http://gpu:9/v1/"})
    assert cfg.providers["vllm"].base_url == "http://gpu:9/v1"


def test_example_file_in_repo_is_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = configmod.load(root / "config.example.yaml", env={})
    assert cfg.server.port == 8080
    assert cfg.providers["vllm"].keepalive == 4.0 and cfg.providers["openai"].keepalive == 30.0


def test_deployment_list_and_fallbacks(tmp_path: Path) -> None:
    cfg = load_text(
        tmp_path,
        """
providers: {a: {type: openai, base_url: http://a}, b: {type: openai, base_url: http://b}}
models:
  small: {provider: b}
  chat:
    deployments:
      - {provider: a, model: m1, weight: 3}
      - {provider: b, model: m2, max_concurrency: 16}
    fallbacks: [small]
""",
    )
    m = cfg.models["chat"]
    assert [d.name for d in m.deployments] == ["a/m1", "b/m2"]
    assert m.deployments[0].weight == 3 and m.deployments[1].max_concurrency == 16
    assert m.fallbacks == ["small"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "server: {port: 99999}",
            "config error: server.port: Input should be less than or equal to 65535",
        ),
        (
            "server: {read_timeout: soon}",
            "config error: server.read_timeout: invalid duration 'soon' (use e.g. 500ms, 30s, 5m)",
        ),
        (
            "server: {max_body_bytes: lots}",
            "config error: server.max_body_bytes: invalid size 'lots' (use e.g. 512KB, 10MB)",
        ),
        ("server: {prot: 1}", "config error: server.prot: unknown key"),
        (
            "providers: {openai: {api_key: ${MISSING_KEY}}}",
            "config error: providers.openai.api_key: environment variable MISSING_KEY is not set (write ${MISSING_KEY:-} to make it optional)",
        ),
        (
            "providers: {mine: {base_url: http://x}}",
            "config error: providers.mine.type: missing (one of openai",
        ),
        (
            "providers: {mine: {type: gopher}}",
            "config error: providers.mine.type: unknown provider type 'gopher'",
        ),
        (
            "models: {m: {provider: nowhere}}",
            "config error: models.m.provider: unknown provider 'nowhere' (configured: none)",
        ),
        (
            "providers: {openai: {}}\nmodels: {m: {provider: openai, fallbacks: [zz]}}",
            "config error: models.m.fallbacks: unknown model 'zz'",
        ),
        ("server: [1, 2", "invalid YAML at line"),
        ("- just\n- a list", "config error: the file must hold a mapping of sections at its top"),
    ],
)
def test_invalid_files_give_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_text(tmp_path, text)
    line = str(ei.value)
    assert "\n" not in line
    assert message in line


def test_cli_exits_nonzero_with_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("server: {port: -1}\n")
    r = subprocess.run(
        [sys.executable, "-m", "aigw", "serve", "--config", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip() == "config error: server.port: Input should be greater than or equal to 0"
    )


def test_no_config_enables_providers_from_environment() -> None:
    cfg = configmod.load(None, env={"OPENAI_API_KEY": "sk-env", "COHERE_API_KEY": ""})
    assert list(cfg.providers) == ["openai"]
    assert cfg.providers["openai"].api_key == "sk-env"
    assert "gpt-4o-mini" in cfg.models
    assert configmod.load(None, env={}).providers == {}


def test_parsers() -> None:
    assert parse_duration("500ms") == 0.5 and parse_duration("2m") == 120 and parse_duration(3) == 3
    assert parse_size("1KiB") == 1024 and parse_size("10MB") == 10_000_000 and parse_size(5) == 5
    with pytest.raises(ValueError):
        parse_duration("-1s")
