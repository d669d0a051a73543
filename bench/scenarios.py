"""Every `aigw bench` scenario against aigw (cache on) and against the mock upstream directly,
in one run, printed as a Markdown table of ratios (for bench/RESULTS.md).

    .venv/bin/python bench/scenarios.py                 # ~2 minutes
    .venv/bin/python bench/scenarios.py --duration 10 --connections 8 64

Each scenario runs at each connection count with the built-in closed-loop generator
(`aigw bench`'s), aigw and direct alternating (`--rounds`). Exact hits are also driven with
wrk at 64 connections (a fixed body, temperature 0), because the Python generator saturates a
core before a cache hit path does. The CPU the generator used is shown, so a row where it
was the bottleneck can be recognised.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from passthrough import cpu_seconds

from aigw.bench import harness, loadgen, report
from aigw.cli.bench import _cache_section

SCENARIOS = ("miss", "exact-hit", "semantic-hit", "stream", "mixed")

WRK_FIXED = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"%s","temperature":0,"messages":[{"role":"user","content":"What is the capital of France?"}]}'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%%d,\"duration_us\":%%d,\"p50\":%%d,\"p90\":%%d,\"p99\":%%d,\"max\":%%d," ..
    "\"status\":%%d,\"connect\":%%d,\"read\":%%d,\"write\":%%d,\"timeout\":%%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


async def one(url: str, scenario: str, conns: int, seconds: float) -> tuple[dict, float]:
    cfg = loadgen.LoadConfig(
        url=url, model=harness.BENCH_MODEL, scenario=scenario, concurrency=conns, duration=seconds
    )
    c0 = time.process_time()
    r = await loadgen.run_load(cfg)
    return r.to_dict(), (time.process_time() - c0) / r.elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description="aigw bench scenarios vs the direct mock")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="aigw-scenarios-")
    mock = harness.start_mock()
    extra = _cache_section("mixed")  # exact and semantic cache on
    gw = harness.start_gateway(mock.url, extra=extra, data_dir=work + "/aigw")
    rows: list[list] = []
    try:
        asyncio.run(harness.wait_ready(gw))
        asyncio.run(harness.wait_ready(mock))
        asyncio.run(one(gw.url, "mixed", 8, 1.0))  # warm: model loaded, pools open
        for scenario in args.scenarios:
            for conns in args.connections:
                best: dict[str, tuple[dict, float]] = {}
                for _ in range(args.rounds):
                    for name, url in (("direct", mock.url), ("aigw", gw.url)):
                        c0 = sum(cpu_seconds(p) for p in gw.pids)
                        d, gen_cpu = asyncio.run(one(url, scenario, conns, args.duration))
                        d["aigw_cpu_s"] = sum(cpu_seconds(p) for p in gw.pids) - c0
                        if (
                            name not in best
                            or d["throughput_rps"] > best[name][0]["throughput_rps"]
                        ):
                            best[name] = (d, gen_cpu)
                a, gen_a = best["aigw"]
                b, _ = best["direct"]
                us_per_req = a["aigw_cpu_s"] / max(1, a["ok"]) * 1e6
                rt = report.ratios(b, a)
                lat = a["ttfc_ms"] if scenario == "stream" else a["latency_ms"]
                rows.append(
                    [
                        scenario,
                        conns,
                        a["throughput_rps"],
                        b["throughput_rps"],
                        f"{rt['throughput']:.2f}" if rt["throughput"] else "-",
                        a["latency_ms"]["p50"] if a["latency_ms"] else None,
                        a["latency_ms"]["p99"] if a["latency_ms"] else None,
                        rt["added_p50_ms"],
                        rt["added_p99_ms"],
                        lat["p50"] if scenario == "stream" and lat else None,
                        ", ".join(f"{k} {v}" for k, v in sorted(a["cache"].items())) or "-",
                        sum(a["errors"].values()),
                        round(us_per_req),
                        f"{gen_a:.0%}",
                    ]
                )
                print(f"{scenario} @{conns}: done", file=sys.stderr, flush=True)
        wrk_rows = []
        if shutil.which("wrk"):
            import passthrough

            lua = Path(work) / "fixed.lua"
            lua.write_text(WRK_FIXED % harness.BENCH_MODEL)
            for conns in (64, 8):
                for name, url in (("direct", mock.url), ("aigw exact-hit", gw.url)):
                    c0 = sum(cpu_seconds(p) for p in gw.pids)
                    d, gen_cpu = passthrough.run_wrk(
                        url + "/chat/completions", conns, args.duration, 1, str(lua)
                    )
                    aigw_cpu = sum(cpu_seconds(p) for p in gw.pids) - c0
                    wall = d["duration_us"] / 1e6
                    errors = d["non2xx"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
                    wrk_rows.append(
                        [
                            name,
                            conns,
                            (d["requests"] - errors) / wall,
                            d["p50"] / 1000,
                            d["p99"] / 1000,
                            errors,
                            round(aigw_cpu / max(1, d["requests"]) * 1e6)
                            if url == gw.url
                            else None,
                            f"{gen_cpu / wall:.0%}",
                        ]
                    )
    finally:
        harness.stop(mock, gw)

    print()
    print(
        f"`bench/scenarios.py --duration {args.duration:g}`, closed loop, aigw one worker with the "
        f"cache on (exact + semantic), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print()
    print(
        report.markdown_table(
            [
                "scenario",
                "conns",
                "aigw req/s",
                "direct req/s",
                "aigw/direct",
                "aigw p50 ms",
                "aigw p99 ms",
                "+p50 ms",
                "+p99 ms",
                "stream TTFC p50 ms",
                "cache",
                "errors",
                "aigw CPU µs/req",
                "generator CPU",
            ],
            rows,
        )
    )
    if wrk_rows:
        print()
        print("Exact hits with wrk (fixed body, temperature 0):")
        print()
        print(
            report.markdown_table(
                [
                    "target",
                    "conns",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "aigw CPU µs/req",
                    "wrk CPU",
                ],
                wrk_rows,
            )
        )


if __name__ == "__main__":
    main()
