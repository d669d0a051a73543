"""A burst of new connections arriving at a busy worker: how long until each is answered.

One aigw worker (exact cache hits, every feature on, as in bench/hits.py) is kept busy by wrk
on 64 keep-alive connections; meanwhile `--burst` new clients connect at once and send one
request each. Reported: the latency of those first requests (connect to answer), and wrk's
own figures. `--site loop` runs the same worker with the event loop's own accept (libuv's,
under uvloop: one connection per turn of the loop) instead of `server/accept.py`'s batches,
for an A/B in one run; targets alternate, `--rounds` times.

    .venv/bin/python bench/accept_burst.py                  # ~1 minute
    .venv/bin/python bench/accept_burst.py --burst 200 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiohttp import web
from hits import CACHE, FEATURES, HIT_BODY, lua_for, post, start_aigw

from aigw.bench import harness, report
from aigw.server import accept


async def burst(host: str, port: int, key: str, n: int) -> list[float]:
    """n clients connect together and send one request each: seconds to each answer."""
    body = HIT_BODY.encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def one() -> float:
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        answer = await reader.read()
        writer.close()
        if not answer.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(answer[:200])
        return time.perf_counter() - t0

    return await asyncio.gather(*(one() for _ in range(n)))


def measure(url: str, key: str, lua: str, n: int, seconds: float) -> tuple[list[float], float]:
    """The burst's latencies, fired a second into wrk's load; wrk's req/s."""
    wrk = subprocess.Popen(
        [
            "wrk",
            "-t1",
            "-c64",
            f"-d{max(2, round(seconds))}s",
            "-s",
            lua,
            url + "/chat/completions",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # not synchronisation: the burst must land on a loaded worker
    host, port = url.split("//")[1].split("/")[0].split(":")
    lat = asyncio.run(burst(host, int(port), key, n))
    out, _ = wrk.communicate()
    rps = float(out.split("Requests/sec:")[1].split()[0])
    return lat, rps


def main() -> None:
    ap = argparse.ArgumentParser(description="new connections bursting into a busy worker")
    ap.add_argument("--burst", type=int, default=100, help="new connections opened at once")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of wrk load per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="aigw-accept-")
    mock = harness.start_mock()
    batch, key_b = start_aigw(mock.url, work, "batch", 1, {**FEATURES, **CACHE})
    # The A/B's other side: the same worker, forked with the loop's own accept.
    batched_start = accept.AcceptSite.start
    accept.AcceptSite.start = web.SockSite.start  # type: ignore[method-assign]
    try:
        loop_c, key_l = start_aigw(mock.url, work, "loop", 1, {**FEATURES, **CACHE})
    finally:
        accept.AcceptSite.start = batched_start  # type: ignore[method-assign]
    targets = {"batch accept": (batch, key_b), "loop accept": (loop_c, key_l)}
    results: dict[str, list[tuple[list[float], float]]] = {name: [] for name in targets}
    try:
        for c, key in targets.values():
            asyncio.run(harness.wait_ready(c, timeout=120))
            assert [post(c.url, key, HIT_BODY) for _ in range(2)] == ["miss", "hit"]
        for rnd in range(args.rounds):
            for name, (c, key) in targets.items():
                lua = lua_for(work, name.split()[0], key, True)
                lat, rps = measure(c.url, key, lua, args.burst, args.duration)
                results[name].append((lat, rps))
                lat.sort()
                print(
                    f"round {rnd + 1} {name:>12}: burst p50 {lat[len(lat) // 2] * 1000:6.1f} "
                    f"max {lat[-1] * 1000:6.1f} ms; wrk {rps:,.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        harness.stop(batch, loop_c, mock)

    rows = []
    for name, runs in results.items():
        lat = sorted(x for r, _ in runs for x in r)
        rows.append(
            [
                name,
                len(lat),
                f"{lat[len(lat) // 2] * 1000:.1f}",
                f"{lat[int(len(lat) * 0.99)] * 1000:.1f}",
                f"{lat[-1] * 1000:.1f}",
                statistics.median(rps for _, rps in runs),
            ]
        )
    print(
        f"\n{args.burst} new connections at once into one busy worker (wrk, 64 keep-alive "
        f"connections of exact hits), {args.rounds} rounds\n"
    )
    print(
        report.markdown_table(
            [
                "accept",
                "burst requests",
                "p50 ms",
                "p99 ms",
                "max ms",
                "wrk req/s (median)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
