"""GET /v1/admin/metrics: the Prometheus figures folded into one JSON summary for humans and
scripts. Read from the same registry as /metrics (all workers in multi-worker mode), so the
two never disagree. Quantiles are estimated from the histogram buckets the way Prometheus'
`histogram_quantile` does (linear inside the bucket)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aigw.observability.metrics import Metrics


def _is_api_route(route: str) -> bool:
    # LLM traffic: the /v1 API minus the admin and model-listing endpoints.
    return (
        route.startswith("/v1/")
        and not route.startswith("/v1/admin")
        and not route.startswith("/v1/models")
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """`buckets`: upper bound -> cumulative count (with +Inf). None when empty."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        c = buckets[b]
        if c >= rank:
            if math.isinf(b):  # in the open top bucket: the best estimate is its floor
                return prev_bound
            if c == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (c - prev_count)
        prev_bound, prev_count = b, c
    return prev_bound


def _quantiles(buckets: dict[float, float]) -> dict[str, float | None]:
    out = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        v = quantile(q, buckets)
        out[name] = None if v is None else round(v, 6)
    return out


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def summarize(samples: Iterable[tuple[str, dict[str, str], float]]) -> dict[str, Any]:
    requests: dict[str, float] = defaultdict(float)  # status class -> count
    latency: dict[float, float] = defaultdict(float)
    tokens: dict[str, float] = defaultdict(float)
    cost = 0.0
    hits: dict[str, float] = defaultdict(float)
    misses = 0.0
    saved_tokens = 0.0
    savings = 0.0
    retries = 0.0
    rejections: dict[str, float] = defaultdict(float)
    in_flight = 0.0
    prov: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "requests": 0.0,
            "attempts": 0.0,
            "errors": defaultdict(float),
            "tokens": defaultdict(float),
            "cost_usd": 0.0,
            "_lat": defaultdict(float),
            "_ttft": defaultdict(float),
        }
    )
    for name, labels, value in samples:
        if name == "llm_requests_total":
            requests[labels["status_class"]] += value
            if labels["provider"] != "none":
                prov[labels["provider"]]["requests"] += value
        elif name == "http_request_duration_seconds_bucket":
            if _is_api_route(labels["route"]):
                latency[float(labels["le"])] += value
        elif name == "llm_tokens_total":
            tokens[labels["direction"]] += value
            prov[labels["provider"]]["tokens"][labels["direction"]] += value
        elif name == "llm_costs_total":
            cost += value
            if labels["provider"] != "none":
                prov[labels["provider"]]["cost_usd"] += value
        elif name == "cache_hit_total":
            hits[labels["kind"]] += value
        elif name == "cache_miss_total":
            misses += value
        elif name == "cache_saved_tokens_total":
            saved_tokens += value
        elif name == "cache_savings_total":
            savings += value
        elif name == "llm_retries_total":
            retries += value
        elif name == "rate_limit_rejections_total":
            rejections[labels["reason"]] += value
        elif name == "http_requests_in_flight":
            in_flight += value
        elif name == "llm_upstream_requests_total":
            prov[labels["provider"]]["attempts"] += value
        elif name == "provider_errors_total":
            prov[labels["provider"]]["errors"][labels["kind"]] += value
        elif name == "llm_upstream_latency_seconds_bucket":
            prov[labels["provider"]]["_lat"][float(labels["le"])] += value
        elif name == "llm_time_to_first_token_seconds_bucket":
            prov[labels["provider"]]["_ttft"][float(labels["le"])] += value

    total = sum(requests.values())
    errors = requests.get("4xx", 0.0) + requests.get("5xx", 0.0)
    n_hits = sum(hits.values())
    providers = {}
    for name, p in sorted(prov.items()):
        n_err = sum(p["errors"].values())
        providers[name] = {
            "requests": p["requests"],
            "attempts": p["attempts"],
            "errors": n_err,
            "error_rate": _rate(n_err, p["attempts"]),
            "errors_by_kind": dict(p["errors"]),
            "tokens": dict(p["tokens"]),
            "cost_usd": round(p["cost_usd"], 9),
            "upstream_latency_seconds": _quantiles(p["_lat"]),
            "time_to_first_token_seconds": _quantiles(p["_ttft"]),
        }
    return {
        "requests": {
            "total": total,
            "by_status_class": dict(sorted(requests.items())),
            "errors": errors,
            "error_rate": _rate(errors, total),
            "server_error_rate": _rate(requests.get("5xx", 0.0), total),
            "in_flight": in_flight,
            "retries": retries,
        },
        "latency_seconds": _quantiles(latency),
        "tokens": {
            "input": tokens.get("input", 0.0),
            "output": tokens.get("output", 0.0),
            "cached_input": tokens.get("cached_input", 0.0),
        },
        "cost_usd": round(cost, 9),
        "cache": {
            "hits": n_hits,
            "hits_by_kind": dict(hits),
            "misses": misses,
            "hit_rate": _rate(n_hits, n_hits + misses),
            "saved_tokens": saved_tokens,
            "savings_usd": round(savings, 9),
        },
        "rate_limit_rejections": {"total": sum(rejections.values()), "by_reason": dict(rejections)},
        "providers": providers,
    }


async def summary(metrics: Metrics) -> dict[str, Any]:
    return summarize(await metrics.samples())
