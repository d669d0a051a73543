"""`--workers 2` against one worker on a machine without two free cores for them.

Two workers and their load need four cores (two workers, wrk, the mock); this machine has
two, so `bench/hits.py`'s `--workers 2` row measures a full box, not the gateway. Here each
worker process is put in its own CPU cgroup, held by the kernel's CFS quota to the same
share of one core (`--share`, 0.4 by default): one worker runs on "a core of speed 0.4",
two workers on two such cores, and wrk and the mock have the rest of the machine, which must
stay below 90% busy for the figure to count. The scaling is req/s(two) / req/s(one) at 64
connections, pass-through with every feature on (auth with a real key, rate limits, metrics,
usage recorded to the one SQLite file the workers share): what would keep two workers from
doing twice the work of one (the shared database, an uneven split of connections by
SO_REUSEPORT, anything serialised between them) shows, as it would on free cores.

A control runs beside them: two separate one-worker gateways (own processes, data
directories and ports, one wrk each at 32 connections) that share nothing but the machine.
Their ratio to one worker is what the machine itself allows (shared caches, four busy
processes on two cores); `--workers 2` falling short of it would be the gateway's doing.
Rounds take the three in turns, in alternating order, and the figures are the medians of the
rounds' ratios (this machine's speed drifts by 10-20% within minutes).

Needs root and a writable cgroup `cpu` controller (v1 `cpu.cfs_quota_us` or v2 `cpu.max`);
it says so and stops where there is none.

    .venv/bin/python bench/workers.py                        # ~2 minutes
    .venv/bin/python bench/workers.py --share 0.3 --rounds 10 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hits import FEATURES, lua_for, start_aigw
from passthrough import box_busy_seconds, cpu_seconds, run_wrk

from aigw.bench import harness, report

PERIOD_US = 20_000  # a short period: the quota's stalls stay far below wrk's timeout
ONE, TWO, PAIR = "one worker", "--workers 2", "two separate gateways"  # what is measured


class CpuCgroup:
    """A CPU cgroup holding its processes to `share` of one core (v1 or v2 interface)."""

    def __init__(self, root: Path, name: str, share: float):
        self.path = root / name
        self.path.mkdir()
        quota = int(PERIOD_US * share)
        if (root / "cgroup.controllers").exists():  # cgroup v2
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))  # the whole process, every thread

    def throttled(self) -> int:
        """How many periods the quota has stopped this group's processes in, so far."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "nr_throttled":
                return int(value)
        return 0

    def remove(self) -> None:
        try:
            self.path.rmdir()  # empty once its processes have exited
        except OSError:
            pass


def _cpu_controller_dir() -> Path | None:
    for d in (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpu,cpuacct")):
        if (d / "cpu.cfs_quota_us").exists() and os.access(d, os.W_OK):
            return d
    root = Path("/sys/fs/cgroup")
    ctrl = root / "cgroup.controllers"
    if ctrl.exists() and "cpu" in ctrl.read_text().split() and os.access(root, os.W_OK):
        sub = root / "cgroup.subtree_control"
        if "cpu" not in sub.read_text().split():
            try:
                sub.write_text("+cpu")
            except OSError:
                return None
        return root
    return None


@dataclass
class Setup:
    """What one measurement loads: gateways (URL, wrk script) sharing 64 connections, and the
    worker processes they run on."""

    name: str
    loads: list[tuple[str, str]]
    pids: list[int]


@dataclass
class Sample:
    rps: float
    errors: int
    per_worker: list[float]  # each worker's CPU, share of one core
    throttled: int  # periods the quota stopped the workers in
    mock: float  # the mock's CPU, share of one core
    wrk: float
    box: float  # the whole machine's busy CPU, in cores

    def __str__(self) -> str:
        return (
            f"{self.rps:7.0f} req/s  errors {self.errors}  workers "
            f"{', '.join(f'{x:.0%}' for x in self.per_worker)} of a core  throttled "
            f"{self.throttled} periods  mock {self.mock:.0%}  wrk {self.wrk:.0%}  "
            f"box {self.box:.0%}"
        )


def sample(setup: Setup, mock_pids: list[int], groups: dict[int, CpuCgroup], secs: float) -> Sample:
    """64 connections split over the setup's gateways, one wrk each, all at once."""
    conns = 64 // len(setup.loads)
    c0 = [cpu_seconds(p) for p in setup.pids]
    m0 = sum(cpu_seconds(p) for p in mock_pids)
    th0 = sum(groups[p].throttled() for p in setup.pids)
    b0 = box_busy_seconds()
    out: list[tuple[dict[str, Any], float]] = []

    def load(url: str, lua: str) -> None:
        out.append(run_wrk(url + "/chat/completions", conns, secs, 1, lua))

    threads = [threading.Thread(target=load, args=ld) for ld in setup.loads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(d["duration_us"] for d, _ in out) / 1e6
    errors = sum(d[k] for d, _ in out for k in ("connect", "read", "write", "timeout", "non2xx"))
    return Sample(
        rps=sum((d["requests"] - d["non2xx"]) / (d["duration_us"] / 1e6) for d, _ in out),
        errors=errors,
        per_worker=[(cpu_seconds(p) - a) / wall for p, a in zip(setup.pids, c0, strict=True)],
        throttled=sum(groups[p].throttled() for p in setup.pids) - th0,
        mock=(sum(cpu_seconds(p) for p in mock_pids) - m0) / wall,
        wrk=sum(cpu for _, cpu in out) / wall,
        box=(box_busy_seconds() - b0) / wall,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="aigw --workers 2 vs one worker, each on a CPU quota")
    ap.add_argument("--share", type=float, default=0.4, help="each worker's share of one core")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/workers.py needs wrk (apt-get install wrk)")
    root = _cpu_controller_dir()
    if root is None:
        sys.exit("not measurable here: no writable cgroup cpu controller (run as root)")
    cores = os.cpu_count() or 1

    work = tempfile.mkdtemp(prefix="aigw-workers-")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tag = f"aigw-bench-{os.getpid()}"
    mock_c = harness.start_mock()
    # The control: two gateways that share nothing but the machine (own processes, data
    # directories and ports), one wrk each. What keeps them from 2x is the machine's; what
    # keeps --workers 2 further from it is what its workers share.
    gws = {
        name: start_aigw(mock_c.url, work, name, workers, FEATURES)
        for name, workers in (("w1", 1), ("w2", 2), ("a", 1), ("b", 1))
    }
    children = [mock_c] + [c for c, _ in gws.values()]
    groups: dict[int, CpuCgroup] = {}
    try:
        for c in children:
            asyncio.run(harness.wait_ready(c, timeout=120))
        for c, _ in gws.values():
            for pid in c.pids:
                groups[pid] = CpuCgroup(root, f"{tag}-{pid}", args.share)
                groups[pid].add(pid)

        def setup(name: str, *gateways: str) -> Setup:
            loads = [(gws[g][0].url, lua_for(work, g, gws[g][1], False)) for g in gateways]
            return Setup(name, loads, [p for g in gateways for p in gws[g][0].pids])

        setups = [
            setup(ONE, "w1"),
            setup(TWO, "w2"),
            setup(PAIR, "a", "b"),
        ]
        rounds: list[dict[str, Sample]] = []
        for rnd in range(args.rounds):
            # In turns and in alternating order: this machine's speed drifts by 10-20% over
            # minutes, and each round's ratios compare neighbours.
            got: dict[str, Sample] = {}
            for st in setups if rnd % 2 == 0 else setups[::-1]:
                got[st.name] = s = sample(st, mock_c.pids, groups, args.duration)
                print(f"round {rnd + 1} {st.name:>21}: {s}", file=sys.stderr, flush=True)
            rounds.append(got)
    finally:
        harness.stop(*children)
        for g in groups.values():
            g.remove()
    print_table(rounds, args, cores, started)


def print_table(
    rounds: list[dict[str, Sample]], args: argparse.Namespace, cores: int, started: str
) -> None:
    print(
        f"\nMachine: {cores} CPUs; each worker held to {args.share:g} of a core (CFS quota, "
        f"{PERIOD_US // 1000} ms period); pass-through, every feature on; wrk at 64 "
        f"connections (32 per gateway for the separate pair), {args.duration:g}s per "
        f"measurement, {args.rounds} rounds, started {started}\n"
    )
    rows = []
    ratios: dict[str, list[float]] = {TWO: [], PAIR: []}
    for i, got in enumerate(rounds, 1):
        one = got[ONE]
        # A round counts only where the quota, not the rest of the box, was the limit: every
        # worker throttled and near its share, and the machine not full.
        ok = all(
            s.throttled > 0 and s.box < 0.9 * cores and min(s.per_worker) >= 0.9 * args.share
            for s in got.values()
        )
        if ok:
            for name in ratios:
                ratios[name].append(got[name].rps / one.rps)
        rows.append(
            [
                i,
                one.rps,
                got[TWO].rps,
                f"{got[TWO].rps / one.rps:.2f}x",
                got[PAIR].rps,
                f"{got[PAIR].rps / one.rps:.2f}x",
                f"{min(p for s in got.values() for p in s.per_worker):.0%}",
                " / ".join(f"{got[n].box:.0%}" for n in (ONE, TWO, PAIR)),
                sum(s.errors for s in got.values()),
                "yes" if ok else "no",
            ]
        )
    print(
        report.markdown_table(
            [
                "round",
                "one worker req/s",
                "--workers 2 req/s",
                "ratio",
                "two separate gateways req/s",
                "ratio",
                "least worker CPU (of a core)",
                "machine busy (one / two / pair)",
                "errors",
                "counts",
            ],
            rows,
        )
    )
    good = sorted(ratios[TWO])
    if not good:
        print(
            "\n--workers 2 >= 1.8x one worker @64c: not measurable (no round was held by the "
            "quota alone: a worker under its share, or the machine full)"
        )
        return
    med = statistics.median(good)
    pair = statistics.median(ratios[PAIR])
    print(
        f"\n--workers 2 >= 1.8x one worker @64c: {'yes' if med >= 1.8 else 'NO'}, median "
        f"{med:.2f}x over {len(good)} rounds (range {good[0]:.2f}x-{good[-1]:.2f}x); two "
        f"separate gateways (the machine's own limit): median {pair:.2f}x"
    )


if __name__ == "__main__":
    main()
