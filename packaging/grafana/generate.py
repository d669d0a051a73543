"""Writes the four Grafana dashboards of this folder from the panel lists below.

    python packaging/grafana/generate.py

Every query uses the gateway's real metric names (tests/test_metrics_dashboards.py checks each
one against a live scrape). docker compose provisions them (grafana/provisioning/); elsewhere,
import the JSON files in Grafana (Dashboards -> Import): the "Data source" variable at the top
picks the Prometheus that scrapes the gateway (see packaging/prometheus.yml).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "dashboards"
RI = "$__rate_interval"
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def q(expr: str, legend: str = "") -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend}


def panel(
    title: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    kind: str = "timeseries",
    w: int = 12,
    h: int = 8,
    desc: str = "",
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": [{**t, "datasource": DS, "refId": chr(65 + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "gridPos": {"w": w, "h": h},
    }


def quantiles(metric: str, by: str = "", match: str = "") -> list[dict[str, Any]]:
    group = f"le, {by}" if by else "le"
    legend = f"{{{{{by}}}}} " if by else ""
    sel = f"{metric}_bucket{{{match}}}" if match else f"{metric}_bucket"
    return [
        q(f"histogram_quantile({p}, sum by ({group}) (rate({sel}[{RI}])))", f"{legend}p{n}")
        for p, n in ((0.5, 50), (0.95, 95), (0.99, 99))
    ]


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    x = y = row_h = 0
    for i, p in enumerate(panels):
        g = p["gridPos"]
        if x + g["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        g.update(x=x, y=y)
        x += g["w"]
        row_h = max(row_h, g["h"])
        p["id"] = i + 1
    return panels


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], tags: list[str]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["aigw", *tags],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "DS_PROMETHEUS",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                }
            ]
        },
        "panels": layout(panels),
    }


API = 'route=~"/v1/(chat/completions|embeddings|messages)"'

OVERVIEW = [
    panel(
        "Requests per second by status class",
        [q(f"sum by (status_class) (rate(http_requests_total[{RI}]))", "{{status_class}}")],
        "reqps",
    ),
    panel(
        "Error rate (5xx share; 4xx share)",
        [
            q(
                f'sum(rate(http_requests_total{{status_class="5xx"}}[{RI}])) / '
                f"sum(rate(http_requests_total[{RI}]))",
                "5xx",
            ),
            q(
                f'sum(rate(http_requests_total{{status_class="4xx"}}[{RI}])) / '
                f"sum(rate(http_requests_total[{RI}]))",
                "4xx",
            ),
        ],
        "percentunit",
    ),
    panel(
        "API latency (whole request)", quantiles("http_request_duration_seconds", match=API), "s"
    ),
    panel("Requests in flight", [q("sum(http_requests_in_flight)", "in flight")], w=6),
    panel(
        "Cache hit rate",
        [
            q(
                f"sum(rate(cache_hit_total[{RI}])) / (sum(rate(cache_hit_total[{RI}])) + "
                f"sum(rate(cache_miss_total[{RI}])))",
                "hit rate",
            )
        ],
        "percentunit",
        w=6,
    ),
    panel(
        "LLM requests per second by model",
        [q(f"sum by (model) (rate(llm_requests_total[{RI}]))", "{{model}}")],
        "reqps",
    ),
    panel(
        "Tokens per second by direction",
        [q(f"sum by (direction) (rate(llm_tokens_total[{RI}]))", "{{direction}}")],
    ),
    panel(
        "Requests per second by route",
        [q(f"sum by (method, route) (rate(http_requests_total[{RI}]))", "{{method}} {{route}}")],
        "reqps",
    ),
    panel(
        "Upstream attempts beyond the first (retries + failovers) per second",
        [q(f"sum by (model) (rate(llm_retries_total[{RI}]))", "{{model}}")],
    ),
    panel(
        "Usage records spooled on disk (database unreachable or slow)",
        [q("max(usage_spool_bytes)", "spool bytes")],
        "bytes",
    ),
    panel(
        "Usage database reachable (1) or spooling (0)",
        [q("min(usage_store_up)", "store up")],
    ),
]

PROVIDERS = [
    panel(
        "Upstream attempts per second by provider and outcome",
        [
            q(
                f"sum by (provider, status_class) (rate(llm_upstream_requests_total[{RI}]))",
                "{{provider}} {{status_class}}",
            )
        ],
        "reqps",
    ),
    panel(
        "Provider errors per second by kind",
        [
            q(
                f"sum by (provider, kind) (rate(provider_errors_total[{RI}]))",
                "{{provider}} {{kind}}",
            )
        ],
    ),
    panel(
        "Provider error share of attempts",
        [
            q(
                f"sum by (provider) (rate(provider_errors_total[{RI}])) / "
                f"sum by (provider) (rate(llm_upstream_requests_total[{RI}]))",
                "{{provider}}",
            )
        ],
        "percentunit",
    ),
    panel(
        "Upstream latency p95 by deployment",
        [
            q(
                "histogram_quantile(0.95, sum by (le, deployment) "
                f"(rate(llm_upstream_latency_seconds_bucket[{RI}])))",
                "{{deployment}}",
            )
        ],
        "s",
    ),
    panel(
        "Time to first token by deployment (p50, p95)",
        [
            q(
                f"histogram_quantile({p}, sum by (le, deployment) "
                f"(rate(llm_time_to_first_token_seconds_bucket[{RI}])))",
                f"{{{{deployment}}}} p{n}",
            )
            for p, n in ((0.5, 50), (0.95, 95))
        ],
        "s",
    ),
    panel(
        "Circuit breakers (0 closed, 1 half-open, 2 open)",
        [q("max by (deployment) (breaker_state)", "{{deployment}}")],
    ),
    panel(
        "Breaker trips since start",
        [q("sum by (deployment) (breaker_trips)", "{{deployment}}")],
    ),
    panel(
        "Upstream calls in flight vs. concurrency cap",
        [
            q("sum by (deployment) (deployment_in_flight)", "{{deployment}} in flight"),
            q("max by (deployment) (deployment_concurrency_limit)", "{{deployment}} cap"),
        ],
    ),
    panel(
        "Queue length by deployment",
        [q("sum by (deployment) (queue_length)", "{{deployment}}")],
    ),
    panel("Queue wait", quantiles("queue_wait_seconds", by="deployment"), "s"),
]

COST = [
    panel(
        "Spend in the selected range",
        [q("sum(increase(llm_costs_total[$__range]))", "USD")],
        "currencyUSD",
        kind="stat",
        w=6,
    ),
    panel(
        "Cache savings in the selected range",
        [q("sum(increase(cache_savings_total[$__range]))", "USD")],
        "currencyUSD",
        kind="stat",
        w=6,
    ),
    panel(
        "Tokens in the selected range",
        [q("sum by (direction) (increase(llm_tokens_total[$__range]))", "{{direction}}")],
        kind="stat",
        w=12,
    ),
    panel(
        "Spend per hour by model",
        [q(f"sum by (model) (rate(llm_costs_total[{RI}])) * 3600", "{{model}}")],
        "currencyUSD",
    ),
    panel(
        "Spend per hour by provider",
        [q(f"sum by (provider) (rate(llm_costs_total[{RI}])) * 3600", "{{provider}}")],
        "currencyUSD",
    ),
    panel(
        "Spend per hour by org (observability.metrics.org_label: true)",
        [q(f"sum by (org) (rate(llm_costs_total[{RI}])) * 3600", "{{org}}")],
        "currencyUSD",
    ),
    panel(
        "Average cost per request by model",
        [
            q(
                f"sum by (model) (rate(llm_costs_total[{RI}])) / "
                f"sum by (model) (rate(llm_requests_total[{RI}]))",
                "{{model}}",
            )
        ],
        "currencyUSD",
    ),
    panel(
        "Tokens per second by model and direction",
        [
            q(
                f"sum by (model, direction) (rate(llm_tokens_total[{RI}]))",
                "{{model}} {{direction}}",
            )
        ],
    ),
    panel(
        "Tokens answered by the cache per second",
        [
            q(
                f"sum by (model, direction) (rate(cache_saved_tokens_total[{RI}]))",
                "{{model}} {{direction}}",
            )
        ],
    ),
]

LIMITS = [
    panel(
        "Rate-limit rejections per second by reason",
        [q(f"sum by (reason) (rate(rate_limit_rejections_total[{RI}]))", "{{reason}}")],
    ),
    panel(
        "Share of LLM requests rejected by the gateway's limits",
        [
            q(
                f"sum(rate(rate_limit_rejections_total[{RI}])) / "
                f"sum(rate(llm_requests_total[{RI}]))",
                "rejected",
            )
        ],
        "percentunit",
    ),
    panel(
        "Provider rate limits (upstream 429s) per second",
        [
            q(
                f'sum by (provider) (rate(provider_errors_total{{kind="rate_limited"}}[{RI}]))',
                "{{provider}}",
            )
        ],
    ),
    panel(
        "4xx answers per second by route",
        [
            q(
                f'sum by (route) (rate(http_requests_total{{status_class="4xx"}}[{RI}]))',
                "{{route}}",
            )
        ],
        "reqps",
    ),
    panel(
        "Queue rejections since start (no slot in time)",
        [q("sum by (deployment) (queue_rejected_requests)", "{{deployment}}")],
    ),
    panel(
        "Queue length by deployment",
        [q("sum by (deployment) (queue_length)", "{{deployment}}")],
    ),
    panel("Queue wait", quantiles("queue_wait_seconds"), "s"),
]

DASHBOARDS = {
    "gateway-overview.json": ("aigw-overview", "aigw: Gateway Overview", OVERVIEW, ["overview"]),
    "llm-provider-performance.json": (
        "aigw-providers",
        "aigw: LLM Provider Performance",
        PROVIDERS,
        ["providers"],
    ),
    "cost-tracking.json": ("aigw-cost", "aigw: Cost Tracking", COST, ["cost"]),
    "rate-limiting-stats.json": ("aigw-limits", "aigw: Rate Limiting Stats", LIMITS, ["limits"]),
}


def main() -> None:
    for fname, (uid, title, panels, tags) in DASHBOARDS.items():
        out = json.dumps(dashboard(uid, title, panels, tags), indent=2) + "\n"
        (HERE / fname).write_text(out)
        print(f"wrote {HERE / fname} ({len(panels)} panels)")


if __name__ == "__main__":
    main()
