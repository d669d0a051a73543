"""Pass-through benchmark: one run, the same load on every target, ratios in one table.

Targets (each its own process on loopback, started here):
  direct     the mock upstream itself (the ceiling)
  reference  bench/reference_proxy.py: a bare aiohttp+uvloop proxy (the floor to compare to)
  aigw       `aigw serve`, one worker, in front of the same mock
  aigw-w2    aigw with --workers 2 (with --workers-scaling)
  litellm    LiteLLM's proxy, one worker (with --litellm PATH/TO/litellm)

Loads: throughput at 64 connections, latency at 8 connections (wrk, a Lua script posting a
unique chat body per request so no cache can answer; the built-in load generator if wrk is
missing), time to first chunk of streams at 8 connections (the built-in generator, which
reads SSE), and aigw's peak RSS. Targets are measured in alternation, `--rounds` times, and
the best round per target is kept (on a shared machine the best is the least disturbed).
Every process's CPU time is recorded, so a run where the load generator (or the mock) was
the bottleneck shows up: see the CPU table.

    .venv/bin/python bench/passthrough.py                       # ~2 minutes
    .venv/bin/python bench/passthrough.py --litellm /tmp/litellm-venv/bin/litellm --workers-scaling

It ends with Markdown tables ready to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aigw.bench import harness, loadgen, report

MODEL = harness.BENCH_MODEL
TICK = os.sysconf("SC_CLK_TCK")

WRK_LUA = r"""
local n = 0
local prefix = '{"model":"%s","messages":[{"role":"user","content":"What is the capital of France? '
local suffix = '"}]}'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%s
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. tostring(n) .. "-" .. tostring(math.random(1e9)) .. suffix)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%%d,\"duration_us\":%%d,\"p50\":%%d,\"p90\":%%d,\"p99\":%%d,\"max\":%%d," ..
    "\"status\":%%d,\"connect\":%%d,\"read\":%%d,\"write\":%%d,\"timeout\":%%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Target:
    name: str
    url: str  # base URL of the OpenAI API (…/v1)
    pids: list[int]
    proc: Any = None  # Child or Popen
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    target: str
    load: str
    rps: float
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    errors: int
    cpu: dict[str, float]  # process -> share of one core during the run
    extra: dict[str, Any] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in parts[11:15]) / TICK  # utime stime cutime cstime
    except (OSError, IndexError, ValueError):
        return 0.0


def box_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process, every core), /proc/stat."""
    try:
        with open("/proc/stat") as f:
            parts = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    return (sum(parts[:8]) - idle) / TICK


def _ref_main(upstream: str, sock: socket.socket) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import uvloop
    from reference_proxy import serve

    uvloop.install()
    try:
        asyncio.run(serve(upstream, sock))
    except KeyboardInterrupt:
        pass
    os._exit(0)


def start_reference(upstream_v1: str) -> harness.Child:
    import multiprocessing

    sock = harness.listen()
    port = sock.getsockname()[1]
    origin = upstream_v1.rsplit("/v1", 1)[0]
    p = multiprocessing.get_context("fork").Process(
        target=_ref_main, args=(origin, sock), daemon=True
    )
    p.start()
    sock.close()
    return harness.Child("reference", f"http://127.0.0.1:{port}/v1", [p])


def start_litellm(binary: str, upstream_v1: str, workdir: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = Path(workdir) / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/mock-model\n"
        f"      api_base: {upstream_v1}\n"
        "      api_key: sk-mock\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  set_verbose: false\n"
    )
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        # No auth on any target: aigw runs with auth.required false here too.
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }
    log = open(Path(workdir) / "litellm.log", "wb")  # noqa: SIM115  (lives as long as the process)
    p = subprocess.Popen(
        [
            binary,
            "--config",
            str(cfg),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    return p, f"http://127.0.0.1:{port}/v1"


def wait_litellm(p: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if p.poll() is not None:
            raise RuntimeError(f"LiteLLM exited ({p.returncode}):\n{log.read_text()[-2000:]}")
        try:
            asyncio.run(harness.wait_ready(url, timeout=2))
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise


def process_tree(pid: int) -> list[int]:
    """The pid and its descendants (LiteLLM runs uvicorn under its CLI)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        todo.extend(int(k) for k in kids)
    return out


def run_wrk(
    url: str, connections: int, seconds: float, threads: int, lua: str
) -> tuple[dict[str, Any], float]:
    """wrk against POST url; returns its figures and its own CPU seconds (from wait4)."""
    p = subprocess.Popen(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            lua,
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = p.stdout.read().decode()  # type: ignore[union-attr]
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    m = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk failed against {url}:\n{out}")
    d = orjson.loads(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    d["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    return d, ru.ru_utime + ru.ru_stime


async def run_loadgen(
    url: str, connections: int, seconds: float, stream: bool
) -> loadgen.LoadResult:
    return await loadgen.run_load(
        loadgen.LoadConfig(
            url=url, model=MODEL, concurrency=connections, duration=seconds, stream=stream
        )
    )


def measure(
    t: Target,
    mock: Target,
    connections: int,
    seconds: float,
    tool: str,
    threads: int,
    lua: str,
    stream: bool = False,
) -> Run:
    pids = {"target": t.pids, "mock": mock.pids} if t is not mock else {"target": t.pids}
    before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    box0 = box_busy_seconds()
    g0 = time.process_time()
    w0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if tool == "wrk" and not stream:
        d, gen_cpu = run_wrk(t.url + "/chat/completions", connections, seconds, threads, lua)
        wall = d["duration_us"] / 1e6
        errors = d["non2xx"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
        rps = (d["requests"] - errors) / wall
        p50, p90, p99, mx = (d[k] / 1000 for k in ("p50", "p90", "p99", "max"))
    else:
        r = asyncio.run(run_loadgen(t.url, connections, seconds, stream))
        wall = r.elapsed
        gen_cpu = time.process_time() - g0
        rd = r.to_dict()
        errors = r.requests - r.stats.ok
        rps = r.stats.ok / wall
        lat = rd["ttfc_ms"] if stream else rd["latency_ms"]
        p50, p90, p99, mx = (lat[k] if lat else None for k in ("p50", "p90", "p99", "max"))
        extra = {"latency_ms": rd["latency_ms"], "overhead_ms": rd["gateway_overhead_ms"]}
    wall = max(wall, time.perf_counter() - w0) if tool != "wrk" else wall
    cpu = {k: (sum(cpu_seconds(p) for p in v) - before[k]) / wall for k, v in pids.items()}
    cpu["loadgen"] = gen_cpu / wall
    cpu["box"] = (box_busy_seconds() - box0) / wall  # everything on the machine, ours or not
    return Run(t.name, f"{connections}c", rps, p50, p90, p99, mx, errors, cpu, extra)


def best(runs: list[Run], key: str) -> Run:
    if key == "rps":
        return max(runs, key=lambda r: r.rps)
    return min(runs, key=lambda r: r.p50 if r.p50 is not None else 1e9)


def scaling_verdict(one: Run, two: Run, cores: int) -> str:
    """Whether the --workers 2 figure says anything: the one-worker run must have been limited
    by aigw's own CPU (near a full core), and in the two-worker run everything on the box that
    this benchmark runs (workers, mock, load generator) must have had CPU to spare; otherwise
    the box or the generator was the bottleneck, not aigw."""
    used = two.cpu.get("box", 0.0)
    notes = [
        f"one worker used {one.cpu.get('target', 0):.0%} of a core",
        f"two workers {two.cpu.get('target', 0):.0%}, mock {two.cpu.get('mock', 0):.0%}, "
        f"load generator {two.cpu.get('loadgen', 0):.0%}; the whole machine was busy "
        f"{used:.0%} of {cores} cores ({cores * 100}%)",
    ]
    if one.cpu.get("target", 0) < 0.9:
        verdict = (
            "NOT a scaling measurement: one worker was not CPU-bound, something else limited it"
        )
    elif used > cores - 0.25:
        ratio = two.rps / one.rps
        verdict = (
            f"scales by at least {ratio:.2f}x (a lower bound: the machine was saturated)"
            if ratio > 1.1
            else "NOT a scaling measurement: the machine had no CPU to spare for a second worker"
        )
    elif two.cpu.get("loadgen", 0) > 0.9:
        verdict = "NOT a scaling measurement: the load generator used a full core"
    else:
        verdict = f"valid: {two.rps / one.rps:.2f}x the one-worker throughput"
    return f"--workers 2: {verdict} ({'; '.join(notes)})."


def per_cpu(r: Run | None) -> float | None:
    """Requests served per second of the target's own CPU time: on a shared, busy machine
    this moves far less than req/s, because it does not depend on how much CPU was left."""
    if r is None or not r.cpu.get("target"):
        return None
    return r.rps / r.cpu["target"]


def fmt_ratio(v: float | None, ref: float | None) -> str:
    return f"{v / ref:.2f}" if v is not None and ref else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description="aigw pass-through benchmark")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alternations per target (best kept)")
    ap.add_argument(
        "--tool", choices=["wrk", "loadgen"], default="wrk" if shutil.which("wrk") else "loadgen"
    )
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--litellm", help="path to LiteLLM's `litellm` CLI (in its own venv)")
    ap.add_argument("--workers-scaling", action="store_true", help="also aigw --workers 2")
    ap.add_argument("--stream-tps", type=float, default=0.0, help="mock stream pacing")
    ap.add_argument("--json", help="write every run's figures here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="aigw-passthrough-")
    lua = str(Path(work) / "post.lua")
    Path(lua).write_text(WRK_LUA % (MODEL, ""))

    mock_c = harness.start_mock(tokens_per_second=args.stream_tps)
    ref_c = start_reference(mock_c.url)
    gw_c = harness.start_gateway(mock_c.url, workers=1, data_dir=work + "/aigw1")
    children = [mock_c, ref_c, gw_c]
    gw2_c = None
    if args.workers_scaling:
        gw2_c = harness.start_gateway(mock_c.url, workers=2, data_dir=work + "/aigw2")
        children.append(gw2_c)
    litellm_p = None
    targets = [
        Target("direct", mock_c.url, mock_c.pids),
        Target("reference", ref_c.url, ref_c.pids),
        Target("aigw", gw_c.url, gw_c.pids),
    ]
    try:
        t_start = time.perf_counter()
        asyncio.run(harness.wait_ready(gw_c))
        aigw_ready_s = time.perf_counter() - t_start
        for c in children:
            asyncio.run(harness.wait_ready(c))
        if gw2_c:
            targets.append(Target("aigw-w2", gw2_c.url, gw2_c.pids))
        if args.litellm:
            litellm_p, lurl = start_litellm(args.litellm, mock_c.url, work)
            wait_litellm(litellm_p, lurl, Path(work) / "litellm.log")
            targets.append(Target("litellm", lurl, process_tree(litellm_p.pid)))
        mock = targets[0]
        # warm every target (connection pools, lazy imports) before measuring
        for t in targets:
            asyncio.run(run_loadgen(t.url, 8, 0.5, False))

        runs: dict[tuple[str, str], list[Run]] = {}
        plan = [(64, False), (8, False), (8, True)]
        for rnd in range(args.rounds):
            for conns, stream in plan:
                for t in targets:
                    if t.name == "aigw-w2" and (conns != 64 or stream):
                        continue
                    r = measure(
                        t, mock, conns, args.duration, args.tool, args.wrk_threads, lua, stream
                    )
                    key = "stream8c" if stream else f"{conns}c"
                    r.load = key
                    runs.setdefault((t.name, key), []).append(r)
                    print(
                        f"round {rnd + 1} {t.name:>9} {key:>8}: {r.rps:8.0f} req/s  "
                        f"p50 {r.p50 or 0:7.2f} ms  p99 {r.p99 or 0:7.2f} ms  errors {r.errors}  "
                        f"cpu {', '.join(f'{k} {v:.0%}' for k, v in r.cpu.items())}",
                        file=sys.stderr,
                        flush=True,
                    )
        rss = {t.name: max(harness.rss_mb(p)[1] for p in t.pids) for t in targets}
        if litellm_p is not None:
            rss["litellm"] = sum(harness.rss_mb(p)[0] for p in process_tree(litellm_p.pid))
    finally:
        harness.stop(*children)
        if litellm_p is not None:
            os.killpg(litellm_p.pid, signal.SIGTERM)
            try:
                litellm_p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(litellm_p.pid, signal.SIGKILL)

    picked = {k: best(v, "rps" if k[1] == "64c" else "p50") for k, v in runs.items()}
    print_tables(picked, targets, rss, args, aigw_ready_s)
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps(
                {f"{k[0]}/{k[1]}": [r.__dict__ for r in v] for k, v in runs.items()},
                option=orjson.OPT_INDENT_2,
            )
        )


def print_tables(
    picked: dict[tuple[str, str], Run],
    targets: list[Target],
    rss: dict[str, float],
    args: argparse.Namespace,
    aigw_ready_s: float,
) -> None:
    def get(name: str, load: str) -> Run | None:
        return picked.get((name, load))

    direct8 = get("direct", "8c")
    ref64, _ref8, refs = (
        get("reference", "64c"),
        get("reference", "8c"),
        get("reference", "stream8c"),
    )
    rows = []
    for t in targets:
        r64, r8, rs = get(t.name, "64c"), get(t.name, "8c"), get(t.name, "stream8c")
        rows.append(
            [
                t.name,
                r64.rps if r64 else None,
                fmt_ratio(r64.rps if r64 else None, ref64.rps if ref64 else None),
                r8.p50 if r8 else None,
                r8.p99 if r8 else None,
                (r8.p50 - direct8.p50) if r8 and direct8 and r8.p50 and direct8.p50 else None,
                (r8.p99 - direct8.p99) if r8 and direct8 and r8.p99 and direct8.p99 else None,
                rs.p50 if rs else None,
                (rs.p50 - refs.p50) if rs and refs and rs.p50 and refs.p50 else None,
                sum(r.errors for r in (r64, r8, rs) if r),
                rss.get(t.name),
                per_cpu(r64),
                fmt_ratio(per_cpu(r64), per_cpu(ref64)),
            ]
        )
    cpu = os.cpu_count()
    print()
    print(
        f"Machine: {platform.machine()}, {cpu} CPUs, Python {platform.python_version()}, "
        f"tool {args.tool}, {args.duration:g}s per measurement, best of {args.rounds} rounds, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print()
    print(
        report.markdown_table(
            [
                "target",
                "req/s @64c",
                "x reference",
                "p50 ms @8c",
                "p99 ms @8c",
                "+p50 vs direct",
                "+p99 vs direct",
                "stream TTFC p50 ms @8c",
                "TTFC vs reference ms",
                "errors",
                "RSS MB",
                "req per CPU-s @64c",
                "x reference (CPU)",
            ],
            rows,
        )
    )
    gw64, gw8, gws = get("aigw", "64c"), get("aigw", "8c"), get("aigw", "stream8c")
    print()
    print("Targets (aigw, one worker):")
    checks = []
    if gw64 and ref64:
        checks.append(
            (
                "throughput >= 70% of reference @64c",
                gw64.rps / ref64.rps >= 0.7,
                f"{gw64.rps / ref64.rps:.0%}",
            )
        )
    if per_cpu(gw64) and per_cpu(ref64):
        ratio = per_cpu(gw64) / per_cpu(ref64)  # type: ignore[operator]
        checks.append(
            ("same, per CPU-second of the server (noise-robust)", ratio >= 0.7, f"{ratio:.0%}")
        )
    if gw8 and direct8 and gw8.p50 and direct8.p50 and gw8.p99 and direct8.p99:
        checks.append(
            (
                "added p50 < 1.5 ms @8c",
                gw8.p50 - direct8.p50 < 1.5,
                f"{gw8.p50 - direct8.p50:+.2f} ms",
            )
        )
        checks.append(
            ("added p99 < 4 ms @8c", gw8.p99 - direct8.p99 < 4, f"{gw8.p99 - direct8.p99:+.2f} ms")
        )
    if gws and refs and gws.p50 and refs.p50:
        checks.append(
            (
                "stream TTFC within 2 ms of reference",
                gws.p50 - refs.p50 <= 2,
                f"{gws.p50 - refs.p50:+.2f} ms",
            )
        )
    if "aigw" in rss:
        checks.append(("RSS < 150 MB", rss["aigw"] < 150, f"{rss['aigw']:.0f} MB"))
    w2 = get("aigw-w2", "64c")
    if w2 and gw64:
        checks.append(
            ("--workers 2 scales @64c", w2.rps > gw64.rps * 1.1, f"{w2.rps / gw64.rps:.2f}x")
        )
    print(
        report.markdown_table(
            ["target", "met", "measured"], [[c, "yes" if ok else "NO", v] for c, ok, v in checks]
        )
    )
    if w2 and gw64:
        print()
        print(scaling_verdict(gw64, w2, os.cpu_count() or 1))
    print()
    print("CPU during each measurement (share of one core; the box has", cpu, "cores):")
    crow = []
    for (name, load), r in sorted(picked.items()):
        crow.append(
            [name, load, *(f"{r.cpu.get(k, 0):.0%}" for k in ("target", "mock", "loadgen", "box"))]
        )
    print(
        report.markdown_table(
            ["target", "load", "target CPU", "mock CPU", "load generator CPU", "whole machine"],
            crow,
        )
    )
    print()
    print(f"aigw ready {aigw_ready_s:.2f}s after start (fork, config, first answer).")


if __name__ == "__main__":
    main()
