"""Every metric name the Grafana dashboards query exists in a real scrape of the gateway."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.helpers_observability import scrape

PACKAGING = Path(__file__).resolve().parent.parent / "packaging"
DASHBOARDS = sorted((PACKAGING / "grafana" / "dashboards").glob("*.json"))
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_FUNCS = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
_IDENT = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (labels, functions, ranges removed)."""
    e = _STRINGS.sub("", expr)
    e = _MATCHERS.sub("", e)
    e = _RANGES.sub("", e)
    e = _GROUPING.sub("", e)
    e = _FUNCS.sub("(", e)
    return {n for n in _IDENT.findall(e) if n.lower() not in _KEYWORDS}


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_expression_parser() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, deployment) (rate(x_bucket{route=~"/v1/.*"}'
        "[$__rate_interval]))) / sum(rate(y_total[5m])) * 3600"
    ) == {"x_bucket", "y_total"}


async def test_every_dashboard_metric_exists_in_the_scrape(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    assert [p.name for p in DASHBOARDS] == [
        "cost-tracking.json",
        "gateway-overview.json",
        "llm-provider-performance.json",
        "rate-limiting-stats.json",
    ]
    g = await start_gateway(mock_config(mock.url))
    await g.openai().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    available = (await scrape(g.http, g.url, g.gateway)).names()
    used: set[str] = set()
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        assert d["title"].startswith("aigw: ") and d["panels"]
        names: set[str] = set()
        for e in exprs(d):
            found = metric_names(e)
            assert found, (path.name, e)
            names |= found
        missing = names - available
        assert not missing, f"{path.name} queries metrics the gateway does not export: {missing}"
        used |= names
    # The dashboards cover the required figures.
    for required in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "llm_tokens_total",
        "llm_costs_total",
        "cache_hit_total",
        "cache_miss_total",
        "provider_errors_total",
        "llm_upstream_latency_seconds_bucket",
        "llm_time_to_first_token_seconds_bucket",
        "http_requests_in_flight",
        "queue_length",
        "queue_wait_seconds_bucket",
        "breaker_state",
        "rate_limit_rejections_total",
    ):
        assert required in used, required


def test_prometheus_and_grafana_provisioning_fit_the_compose_file() -> None:
    cfg = yaml.safe_load((PACKAGING / "prometheus.yml").read_text())
    (job,) = cfg["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    compose = yaml.safe_load((PACKAGING / "docker-compose.yml").read_text())
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["aigw"] and "aigw" in compose["services"]
    assert f'--port", "{sd["port"]}"' in json.dumps(compose["services"]["aigw"]["command"])
    ds = yaml.safe_load((PACKAGING / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((PACKAGING / "grafana/provisioning/dashboards/aigw.yml").read_text())
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]}
    path = prov["providers"][0]["options"]["path"]
    assert (PACKAGING / mounted[path]).resolve() == DASHBOARDS[0].parent
