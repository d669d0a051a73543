"""`aigw bench` end to end: the built-in mock upstream and gateway in child processes,
figures in --json, and --fail-on-errors for CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson


def bench(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aigw", "bench", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_mock_upstream_mixed_run(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = bench(
        "--mock-upstream",
        "--scenario",
        "mixed",
        "--requests",
        "120",
        "--concurrency",
        "4",
        "--fail-on-errors",
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    d = orjson.loads(out.read_bytes())
    assert d["ok"] == 120 and d["errors"] == {}
    kinds = d["by_kind"]
    assert set(kinds) == {"exact-hit", "miss", "semantic-hit", "stream"}
    assert kinds["exact-hit"]["cache"] == {"hit": kinds["exact-hit"]["requests"]}
    assert kinds["miss"]["cache"] == {"miss": kinds["miss"]["requests"]}
    assert d["ttfc_ms"]["count"] == kinds["stream"]["requests"]
    assert d["gateway_overhead_ms"]["count"] > 0
    assert "latency" in r.stdout  # the table was printed


def test_hit_only_scenario_reports_the_gateways_cost(tmp_path: Path) -> None:
    """`--scenario exact-hit`: after its warm-up every request is an exact hit, and the run
    reports what one costs the gateway (CPU per request) and its peak memory."""
    out = tmp_path / "r.json"
    r = bench(
        "--mock-upstream",
        "--scenario",
        "exact-hit",
        "--requests",
        "200",
        "--concurrency",
        "4",
        "--fail-on-errors",
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    d = orjson.loads(out.read_bytes())
    assert d["ok"] == 200 and d["cache"] == {"hit": 200}
    assert 0 < d["gateway_cpu_ms_per_request"] < 1000 and d["gateway_peak_rss_mb"] > 10
    assert "ms CPU per request" in r.stdout


def test_fail_on_errors_and_errors_by_status(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = bench(
        "--mock-upstream",
        "--mock-error-rate",
        "1",
        "--requests",
        "20",
        "--concurrency",
        "2",
        "--fail-on-errors",
        "--json",
        str(out),
    )
    assert r.returncode == 1
    d = orjson.loads(out.read_bytes())
    # upstream 500 -> gateway 502; once the breaker opens, 503 without calling upstream
    assert d["ok"] == 0 and sum(d["errors"].values()) == 20
    assert d["errors"]["502"] >= 1 and set(d["errors"]) <= {"502", "503"}


def test_compare_with_the_direct_mock(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = bench(
        "--mock-upstream",
        "--compare",
        "mock",
        "--rate",
        "100",
        "--requests",
        "40",
        "--rounds",
        "2",
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    d = orjson.loads(out.read_bytes())
    assert d["a"]["ok"] == 40 and d["b"]["ok"] == 40
    assert d["a"]["gateway_overhead_ms"] is not None and d["b"]["gateway_overhead_ms"] is None
    assert d["ratios"]["throughput"] > 0 and "B / A" in r.stdout


def test_bad_arguments_exit_2() -> None:
    r = bench("--url", "http://127.0.0.1:1/v1", "--concurrency", "2", "--rate", "5")
    assert r.returncode == 2 and "exactly one of" in r.stderr
    r = bench("--concurrency", "2")
    assert r.returncode == 2 and "--mock-upstream" in r.stderr
    r = bench("--mock-upstream", "--scenario", "nope")
    assert r.returncode == 2
