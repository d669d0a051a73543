"""Deployment files: no Docker engine runs here, so they are checked for syntax and for the
properties they promise (non-root image, a valid aigw config, `--scale aigw=N` possible, the
release covering every platform), not run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aigw import config as configmod

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"


def test_compose_file_is_valid_and_scalable() -> None:
    compose = yaml.safe_load((PKG / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"aigw", "lb", "redis", "postgres", "prometheus", "grafana", "jaeger"} <= set(services)
    aigw = services["aigw"]
    # --scale aigw=3 needs replicas without a fixed host port; the load balancer owns it.
    assert "ports" not in aigw and "container_name" not in aigw
    assert any(str(p).startswith("8080:") for p in services["lb"]["ports"])
    assert aigw["build"]["dockerfile"] == "packaging/Dockerfile"
    assert (PKG / aigw["build"]["context"] / aigw["build"]["dockerfile"]).is_file()
    for name in ("redis", "postgres"):
        assert aigw["depends_on"][name]["condition"] == "service_healthy"
    # `serve` refuses an unmigrated PostgreSQL: a one-shot migrate runs first, once.
    migrate = services["migrate"]
    assert migrate["command"][:2] == ["migrate", "up"]
    assert migrate["restart"] == "no" and "deploy" not in migrate
    assert migrate["image"] == aigw["image"] and migrate["volumes"] == aigw["volumes"]
    assert migrate["environment"] == aigw["environment"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert aigw["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # No secret has a default: Compose stops until it is set (`${VAR:?message}`).
    raw = (PKG / "docker-compose.yml").read_text()
    assert "change-me" not in raw
    for var in ("AIGW_ADMIN_KEY", "AIGW_HASH_SECRET"):
        assert re.search(r"\$\{" + var + r":\?", raw), var
        assert services[name]["healthcheck"]["test"]
    # Every file or folder mounted from the repository exists.
    for svc, spec in services.items():
        for vol in spec.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (PKG / src).exists(), f"{svc} mounts missing {src}"
    # Prometheus finds every replica through Docker's DNS, on the port aigw listens on.
    prom = yaml.safe_load((PKG / "prometheus.yml").read_text())
    sd = prom["scrape_configs"][0]["dns_sd_configs"][0]
    assert sd["names"] == ["aigw"] and sd["port"] == 8080


def test_compose_aigw_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AIGW_HASH_SECRET", "pepper")
    monkeypatch.delenv("AIGW_CLUSTER_SIZE", raising=False)
    cfg = configmod.load(PKG / "aigw.compose.yaml")
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 8080
    assert cfg.database.url == "postgresql://aigw:aigw@postgres:5432/aigw"
    assert cfg.cache.enabled and cfg.cache.redis_url == "redis://redis:6379/0"
    assert cfg.rate_limiting.redis_url == "redis://redis:6379/0"
    assert cfg.rate_limiting.cluster_size == 3
    assert cfg.observability.tracing.endpoint == "http://jaeger:4318/v1/traces"
    # drain must end before compose's SIGKILL
    compose = yaml.safe_load((PKG / "docker-compose.yml").read_text())
    grace = configmod.parse_duration(compose["services"]["aigw"]["stop_grace_period"])
    assert cfg.server.drain_timeout < grace


def test_dockerfile_is_small_and_non_root() -> None:
    text = (PKG / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 2 and all("-slim" in f for f in froms)  # build stage + slim runtime
    final = lines[lines.index(froms[-1]) :]
    users = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert not any("build-essential" in ln or "gcc" in ln for ln in final)
    for ln in lines:  # every COPY from the build context exists
        if ln.startswith("COPY ") and "--from" not in ln:
            for src in ln.split()[1:-1]:
                assert (ROOT / src).exists(), src
    assert re.search(r'^ENTRYPOINT \["aigw"\]', text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text


def test_nginx_config_balances_over_replicas() -> None:
    text = (PKG / "nginx" / "nginx.conf").read_text()
    code = re.sub(r"#.*", "", text)
    assert code.count("{") == code.count("}")
    assert "resolver 127.0.0.11" in code  # Docker's DNS: every replica of `aigw`
    assert re.search(r"server aigw:8080 resolve", code)
    assert "proxy_buffering off" in code  # streams pass chunk by chunk


def test_release_workflow_builds_every_platform() -> None:
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert on["push"]["tags"] == ["v*"]
    assets = {m["asset"] for m in wf["jobs"]["binary"]["strategy"]["matrix"]["include"]}
    assert {"aigw-linux-x86_64", "aigw-linux-arm64", "aigw-macos-arm64"} <= assets
    steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["binary"]["steps"])
    assert "make binary" in steps and "make test-binary" in steps
    assert any(
        "action-gh-release" in str(s.get("uses", "")) for s in wf["jobs"]["release"]["steps"]
    )


def test_pyinstaller_spec_bundles_everything() -> None:
    spec = (PKG / "aigw.spec").read_text()
    compile(spec, "aigw.spec", "exec")  # valid Python
    assert 'collect_submodules("aigw"' in spec  # lazily imported modules included
    for pattern in ("**/*.sql", "**/*.lua", "**/*.json", "models/**/*", "ui/static/*"):
        assert pattern in spec


def test_console_files_ship_in_the_wheel() -> None:
    """The console's pages are package data (pyproject's package-data), none left out."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "ui/static/*" in data["package-data"]["aigw"]
    static = ROOT / "aigw" / "ui" / "static"
    names = {p.name for p in static.iterdir()}
    assert {"index.html", "login.html", "app.js", "app.css", "charts.js", "login.js"} <= names
    assert all(p.is_file() for p in static.iterdir())  # "ui/static/*" takes no subfolders
    assert (PKG / "aigw_entry.py").is_file()
