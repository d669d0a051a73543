"""Presenting load-test figures: a Rich table for the terminal, Markdown for RESULTS.md, and the
ratios between two targets. Everything works from `LoadResult.to_dict()` so saved JSON files
can be rendered again later."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(d: dict[str, Any] | None, key: str) -> str:
    if not d or d.get(key) is None:
        return "-"
    return f"{d[key]:.2f}"


def _errors(r: dict[str, Any]) -> str:
    errs = r.get("errors") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(errs.items())) or "0"


def summary_table(r: dict[str, Any], title: str | None = None) -> Table:
    load = f"{r['concurrency']} connections" if r["mode"] == "closed" else f"{r['rate']:g} req/s"
    t = Table(title=title or f"{r['target']}  ·  {r['scenario']}  ·  {r['mode']} loop, {load}")
    t.add_column("measure")
    for col in ("p50", "p90", "p95", "p99", "max"):
        t.add_column(col + " ms", justify="right")
    rows = [
        ("latency", r.get("latency_ms")),
        ("time to first chunk", r.get("ttfc_ms")),
        ("time to first token", r.get("ttft_ms")),
        ("gap between chunks", r.get("inter_chunk_ms")),
        ("gateway overhead", r.get("gateway_overhead_ms")),
        ("gateway overhead to first byte", r.get("gateway_ttfb_overhead_ms")),
        ("schedule lag (generator)", r.get("schedule_lag_ms")),
    ]
    for name, d in rows:
        if d:
            t.add_row(name, *(_ms(d, k) for k in ("p50", "p90", "p95", "p99", "max")))
    t.caption = (
        f"{r['requests']} requests in {r['elapsed_s']:.2f}s = {r['throughput_rps']:.1f} req/s; "
        f"errors: {_errors(r)}" + (f"; cache: {r['cache']}" if r.get("cache") else "")
    )
    if r.get("gateway_cpu_ms_per_request") is not None:
        t.caption += (
            f"\naigw: {r['gateway_cpu_ms_per_request']:.3f} ms CPU per request, "
            f"peak RSS {r['gateway_peak_rss_mb']:.0f} MB"
        )
    return t


def kinds_table(r: dict[str, Any]) -> Table | None:
    kinds = r.get("by_kind") or {}
    if not kinds:
        return None
    t = Table(title="by kind of request")
    for col in ("kind", "requests", "errors", "p50 ms", "p99 ms", "cache"):
        t.add_column(col)
    for k, v in kinds.items():
        t.add_row(
            k,
            str(v["requests"]),
            str(sum(v["errors"].values())),
            _ms(v["latency_ms"], "p50"),
            _ms(v["latency_ms"], "p99"),
            str(v.get("cache") or ""),
        )
    return t


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """B relative to A: throughput ratio, latency ratios and differences at p50/p99."""

    def lat(r: dict[str, Any], k: str) -> float | None:
        d = r.get("latency_ms")
        return d[k] if d else None

    out: dict[str, float | None] = {
        "throughput": (b["throughput_rps"] / a["throughput_rps"]) if a["throughput_rps"] else None
    }
    for k in ("p50", "p99"):
        la, lb = lat(a, k), lat(b, k)
        out[f"latency_{k}"] = (lb / la) if la and lb else None
        out[f"added_{k}_ms"] = (lb - la) if la is not None and lb is not None else None
    return out


def compare_table(a: dict[str, Any], b: dict[str, Any]) -> Table:
    rt = ratios(a, b)
    t = Table(title="B relative to A (same load, in alternation)")
    for col in ("target", "req/s", "p50 ms", "p99 ms", "errors"):
        t.add_column(col, justify="right" if col != "target" else "left")
    for name, r in (("A " + a["target"], a), ("B " + b["target"], b)):
        t.add_row(
            name,
            f"{r['throughput_rps']:.1f}",
            _ms(r.get("latency_ms"), "p50"),
            _ms(r.get("latency_ms"), "p99"),
            _errors(r),
        )

    def f(v: float | None, unit: str = "x") -> str:
        return "-" if v is None else (f"{v:.2f}{unit}" if unit == "x" else f"{v:+.2f}{unit}")

    t.add_row(
        "B / A",
        f(rt["throughput"]),
        f"{f(rt['latency_p50'])} ({f(rt['added_p50_ms'], ' ms')})",
        f"{f(rt['latency_p99'])} ({f(rt['added_p99_ms'], ' ms')})",
        "",
    )
    return t


def print_result(r: dict[str, Any], console: Console | None = None) -> None:
    c = console or Console()
    c.print(summary_table(r))
    kt = kinds_table(r)
    if kt is not None:
        c.print(kt)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
