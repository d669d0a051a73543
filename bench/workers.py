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

Needs root and a writable cgroup `cpu` controller (v1 `cpu.cfs_quota_us` or v2 `cpu.max`);
it says so and stops where there is none.

    .venv/bin/python bench/workers.py                        # ~1 minute
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
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hits import FEATURES, lua_for, start_aigw
from passthrough import Run, Target, cpu_seconds, measure

from aigw.bench import harness, report

PERIOD_US = 20_000  # a short period: the quota's stalls stay far below wrk's timeout


class CpuCgroup:
    """A CPU cgroup holding its processes to `share` of one core (v1 or v2 interface)."""

    def __init__(self, name: str, share: float):
        root = _cpu_controller_dir()
        if root is None:
            raise RuntimeError("no writable cgroup cpu controller (needs root)")
        self.v2 = (root / "cgroup.controllers").exists()
        self.path = root / name
        self.path.mkdir()
        quota = int(PERIOD_US * share)
        if self.v2:
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


def main() -> None:
    ap = argparse.ArgumentParser(description="aigw --workers 2 vs one worker, each on a CPU quota")
    ap.add_argument("--share", type=float, default=0.4, help="each worker's share of one core")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/workers.py needs wrk (apt-get install wrk)")
    if _cpu_controller_dir() is None:
        sys.exit("not measurable here: no writable cgroup cpu controller (run as root)")
    cores = os.cpu_count() or 1

    work = tempfile.mkdtemp(prefix="aigw-workers-")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tag = f"aigw-bench-{os.getpid()}"
    mock_c = harness.start_mock()
    one_c, key1 = start_aigw(mock_c.url, work, "w1", 1, FEATURES)
    two_c, key2 = start_aigw(mock_c.url, work, "w2", 2, FEATURES)
    groups: dict[int, CpuCgroup] = {}
    try:
        for c in (mock_c, one_c, two_c):
            asyncio.run(harness.wait_ready(c.url, timeout=120))
        for pid in one_c.pids + two_c.pids:
            groups[pid] = CpuCgroup(f"{tag}-{pid}", args.share)
            groups[pid].add(pid)
        mock_t = Target("mock", mock_c.url, mock_c.pids)
        one = Target("one worker", one_c.url, one_c.pids)
        two = Target("two workers", two_c.url, two_c.pids)
        luas = {
            one.name: lua_for(work, "w1", key1, False),
            two.name: lua_for(work, "w2", key2, False),
        }
        rounds: list[dict[str, Sample]] = []
        for rnd in range(args.rounds):
            # Paired and in alternating order (one, two; two, one; ...): this machine's speed
            # drifts by 10-20% over minutes, and each round's ratio compares neighbours.
            order = (one, two) if rnd % 2 == 0 else (two, one)
            got: dict[str, Sample] = {}
            for t in order:
                got[t.name] = s = sample(t, mock_t, luas[t.name], groups, args.duration)
                print(f"round {rnd + 1} {t.name:>11}: {s}", file=sys.stderr, flush=True)
            rounds.append(got)
    finally:
        harness.stop(mock_c, one_c, two_c)
        for g in groups.values():
            g.remove()
    print_table(rounds, args, cores, started)


@dataclass
class Sample:
    run: Run
    per_worker: list[float]  # each worker's CPU, share of one core
    throttled: int  # periods the quota stopped the workers in

    def __str__(self) -> str:
        r = self.run
        return (
            f"{r.rps:7.0f} req/s  errors {r.errors}  workers "
            f"{', '.join(f'{x:.0%}' for x in self.per_worker)} of a core  throttled "
            f"{self.throttled} periods  mock {r.cpu.get('mock', 0):.0%}  "
            f"wrk {r.cpu.get('loadgen', 0):.0%}  box {r.cpu.get('box', 0):.0%}"
        )


def sample(t: Target, mock: Target, lua: str, groups: dict[int, CpuCgroup], secs: float) -> Sample:
    c0 = [cpu_seconds(p) for p in t.pids]
    th0 = sum(groups[p].throttled() for p in t.pids)
    r = measure(t, mock, 64, secs, "wrk", 1, lua)
    per = [(cpu_seconds(p) - a) / secs for p, a in zip(t.pids, c0, strict=True)]
    return Sample(r, per, sum(groups[p].throttled() for p in t.pids) - th0)


def print_table(
    rounds: list[dict[str, Sample]], args: argparse.Namespace, cores: int, started: str
) -> None:
    print(
        f"\nMachine: {cores} CPUs; each worker held to {args.share:g} of a core (CFS quota, "
        f"{PERIOD_US // 1000} ms period); pass-through, every feature on; wrk at 64 "
        f"connections, {args.duration:g}s per measurement, {args.rounds} paired rounds, "
        f"started {started}\n"
    )
    rows = []
    ratios = []
    counted = []
    for i, got in enumerate(rounds, 1):
        one, two = got["one worker"], got["two workers"]
        x = two.run.rps / one.run.rps
        # A round counts only where the quota, not the rest of the box, was the limit: every
        # worker throttled and near its share, and the machine not full.
        held = all(
            p >= 0.9 * args.share and s.throttled > 0 for s in (one, two) for p in s.per_worker
        )
        free = two.run.cpu.get("box", 0.0) < 0.9 * cores
        ratios.append(x)
        counted.append(held and free)
        rows.append(
            [
                i,
                one.run.rps,
                two.run.rps,
                f"{x:.2f}x",
                ", ".join(f"{p:.0%}" for p in one.per_worker + two.per_worker),
                f"{two.run.cpu.get('mock', 0):.0%}",
                f"{two.run.cpu.get('loadgen', 0):.0%}",
                f"{one.run.cpu.get('box', 0):.0%} / {two.run.cpu.get('box', 0):.0%}",
                one.run.errors + two.run.errors,
                "yes" if held and free else "no",
            ]
        )
    print(
        report.markdown_table(
            [
                "round",
                "one worker req/s",
                "two workers req/s",
                "ratio",
                "workers' CPU (of a core)",
                "mock CPU (two)",
                "wrk CPU (two)",
                "machine busy (one / two)",
                "errors",
                "counts",
            ],
            rows,
        )
    )
    good = sorted(x for x, ok in zip(ratios, counted, strict=True) if ok)
    if not good:
        print(
            "\n--workers 2 >= 1.8x one worker @64c: not measurable (no round was held by the "
            "quota alone: a worker under its share, or the machine full)"
        )
        return
    med = statistics.median(good)
    rps = {
        name: statistics.median(got[name].run.rps for got in rounds)
        for name in ("one worker", "two workers")
    }
    print(
        f"\n--workers 2 >= 1.8x one worker @64c: {'yes' if med >= 1.8 else 'NO'}, median "
        f"{med:.2f}x over {len(good)} rounds (range {good[0]:.2f}x-{good[-1]:.2f}x); median "
        f"req/s: one worker {rps['one worker']:,.0f}, two workers {rps['two workers']:,.0f}"
    )


if __name__ == "__main__":
    main()
