"""What an exact cache hit costs aigw, measured in one process: the real app (every feature
on: auth with a real API key, rate limits, metrics, usage to SQLite, the cache with its
model) on a loopback socket, a minimal keep-alive client in the same event loop, and the
CPU time of each thread divided by the requests. Far steadier than req/s on a busy machine,
and it attributes: switch features off one at a time to see what each costs.

    .venv/bin/python bench/hit_cost.py                      # aigw, every feature on
    .venv/bin/python bench/hit_cost.py --trivial            # a bare aiohttp handler (floor)
    .venv/bin/python bench/hit_cost.py --trivial raw        # no HTTP library at all
    .venv/bin/python bench/hit_cost.py --off limits usage   # without those features
    .venv/bin/python bench/hit_cost.py --profile            # and a cProfile of the run
    .venv/bin/python bench/hit_cost.py --miss               # a pass-through (mock in-process)
    .venv/bin/python bench/hit_cost.py --bare               # bench/reference_proxy.py instead
    .venv/bin/python bench/hit_cost.py --callgrind          # instructions per request

`--callgrind` runs the same measurement twice under valgrind (N and 3N requests) and prints
the difference per request: CPU instructions, the same from run to run whatever else the
machine is doing, so an A/B of a change needs no quiet machine (two runs, ~2 min).

The client's own cost (~25 us per request here) is in the figures of both aigw and the
trivial handler: compare the two, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from aiohttp import web

from aigw.bench import harness
from aigw.server.accept import AcceptSite

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "mock-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
)
BODY = orjson.dumps(
    {
        "model": harness.BENCH_MODEL,
        "temperature": 0,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
)
# --miss: no temperature 0, so the queue does not coalesce the identical concurrent
# requests into one upstream call (every request is a real pass-through).
MISS_BODY = orjson.dumps({k: v for k, v in orjson.loads(BODY).items() if k != "temperature"})


def thread_ticks() -> dict[str, int]:
    out = {}
    for t in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{t}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[t] = int(fields[11]) + int(fields[12])
    return out


async def mock_upstream() -> str:
    """A trivial OpenAI-shaped upstream in this process (for --miss): its cost is in every
    figure, the same for A and B."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = harness.listen()
    await web.SockSite(runner, sock).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


async def aigw_app(off: list[str], miss: bool = False) -> tuple[web.Application, str]:
    from aigw.cache.entry import json_entry
    from aigw.cache.keys import exact_key, tenant_scope
    from aigw.cli import keys as cli_keys
    from aigw.server.app import create_app
    from aigw.server.state import GATEWAY

    extra: dict[str, Any] = {
        "auth": {"required": "auth" not in off},
        "rate_limiting": {
            "enabled": "limits" not in off,
            "requests_per_minute": 10**9,
            "tokens_per_minute": 10**12,
        },
        "observability": {"metrics": {"enabled": "metrics" not in off}},
        "cache": {"enabled": not miss, "semantic": {"enabled": "semantic" not in off}},
    }
    upstream = await mock_upstream() if miss else "http://127.0.0.1:1/v1"
    cfg = harness.gateway_config(upstream, tempfile.mkdtemp(), extra)
    plain, rec = await asyncio.to_thread(
        cli_keys._run, cfg, lambda svc: svc.create("org-bench", name="bench")
    )
    app = create_app(cfg)

    async def seed(app: web.Application) -> None:  # runs after the gateway has started
        gw = app[GATEWAY]
        if "usage" in off:
            gw.accounts.usage.enqueue = lambda record: None
        if os.environ.get(STEADY):
            steady(gw)
        if miss:
            return
        key = exact_key(
            "chat", harness.BENCH_MODEL, orjson.loads(BODY), tenant_scope("org", rec.org_id)
        )
        entry = json_entry(orjson.loads(ANSWER), ANSWER, time.time() + 3600)
        await gw.cache.store.put(key, entry)

    app.on_startup.append(seed)
    return app, str(plain)


# Set for the runs under valgrind (see `callgrind`).
STEADY = "AIGW_BENCH_STEADY"


def steady(gw: Any) -> None:
    """Under valgrind the gateway runs ~35x slower, so work driven by the clock would weigh
    ~35x what it does at full speed, and vary with the machine's load (two runs of one tree
    differed by 3%): the usage flush every 0.5 s, the loop-lag probe every 50 ms, the batch
    worker's look for work every second, a key's refresh from the store every 30 s. Here
    the usage writer flushes every 1,000 records instead (at full speed, 0.5 s is ~1,750
    requests) and the others wait an hour: the same count run after run."""
    usage = gw.accounts.usage
    usage.flush_interval = 3600.0
    usage.batch_size = 1000
    metrics = gw.observability.metrics
    if metrics is not None and metrics._lag_probe is not None:
        metrics._lag_probe.cancel()
    if gw.batches is not None:
        worker = gw.batches.worker
        worker.cfg = worker.cfg.model_copy(update={"poll_interval": 3600.0})
    gw.accounts.auth.cache.ttl = 3600.0


async def trivial_handler(request: web.BaseRequest) -> web.Response:
    orjson.loads(await request.read())
    return web.Response(body=ANSWER, content_type="application/json")


def trivial_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", trivial_handler)
    return app


RAW_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(ANSWER), ANSWER)
)


class RawAnswer(asyncio.Protocol):
    """--trivial raw: no HTTP library, the answer's bytes written once a request (framed by
    its Content-Length) is in. The floor of the socket, the loop and the client."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        i = self.buf.lower().index(b"content-length:")
        size = int(self.buf[i + 15 : self.buf.index(b"\r\n", i)])
        if len(self.buf) < end + 4 + size:
            return
        orjson.loads(self.buf[end + 4 : end + 4 + size])
        self.buf = self.buf[end + 4 + size :]
        self.transport.write(RAW_ANSWER)


async def main(args: argparse.Namespace) -> None:
    sock = harness.listen()
    port = sock.getsockname()[1]
    runner: web.BaseRunner | None = None
    raw: asyncio.Server | None = None
    key = "x"
    if args.trivial == "raw":
        raw = await asyncio.get_running_loop().create_server(RawAnswer, sock=sock)
    elif args.trivial == "server":  # aiohttp's low-level server: no application or router
        runner = web.ServerRunner(web.Server(trivial_handler), access_log=None)
    elif args.trivial:
        runner = web.AppRunner(trivial_app(), access_log=None, handler_cancellation=True)
    elif args.bare:
        from reference_proxy import make_app

        app = make_app((await mock_upstream()).removesuffix("/v1"))
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        args.miss = True
    else:
        from aigw.server.connections import GatewayRunner
        from aigw.server.state import CONFIG

        app, key = await aigw_app(args.off, args.miss)
        limits = app[CONFIG].server.model_copy(update={"lean_front": not args.aiohttp_front})
        runner = GatewayRunner(app, limits, access_log=None, handler_cancellation=True)
    if runner is not None:
        await runner.setup()
        await AcceptSite(runner, sock).start()  # as `aigw serve` accepts
    if not (args.trivial or args.bare):
        from aigw.cli.serve import settle_heap

        settle_heap()  # as `aigw serve` does after start-up
    body = MISS_BODY if args.miss else BODY
    req = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    async def client(n: int, check: bool) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(n):
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            i = head.lower().index(b"content-length:")
            await r.readexactly(int(head[i + 15 : head.index(b"\r\n", i)]))
            if check:
                assert head.startswith(b"HTTP/1.1 200"), head
                hit = b"x-aigw-cache: hit" in head.lower()
                assert args.trivial or args.bare or hit != args.miss, head
        w.close()

    await asyncio.gather(*(client(100, True) for _ in range(args.connections)))
    n = args.requests // args.connections * args.connections
    prof = cProfile.Profile() if args.profile else None
    t0, w0 = thread_ticks(), time.perf_counter()
    if prof:
        prof.enable()
    await asyncio.gather(*(client(n // args.connections, False) for _ in range(args.connections)))
    if prof:
        prof.disable()
    wall = time.perf_counter() - w0
    await asyncio.sleep(0.6)  # one usage flush interval: the database thread's share counts
    t1 = thread_ticks()
    main_t = str(os.getpid())
    tick = os.sysconf("SC_CLK_TCK")
    loop_us = (t1[main_t] - t0[main_t]) / tick / n * 1e6
    other_us = sum(v - t0.get(t, 0) for t, v in t1.items() if t != main_t) / tick / n * 1e6
    kind = "pass-through" if args.miss else "exact hit"
    what = (
        f"trivial handler ({args.trivial})"
        if args.trivial
        else "bare proxy (bench/reference_proxy.py)"
        if args.bare
        else f"aigw {kind} (off: {args.off or 'nothing'})"
    )
    print(
        f"{what}: loop thread {loop_us:.1f} us/req (client included), other threads "
        f"{other_us:.1f} us/req, {n / wall:.0f} req/s"
    )
    if prof:
        stats = pstats.Stats(prof)
        if args.profile_out:
            stats.dump_stats(args.profile_out)
        stats.sort_stats("tottime").print_stats(40)
        print_areas(stats, n)
    if runner is not None:
        await runner.cleanup()
    if raw is not None:
        raw.close()


def area(path: str, func: str) -> str:
    """Where a profiled function lives: aigw's package, a library, or the call itself."""
    if "/aigw/" in path:
        return "aigw/" + path.split("/aigw/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for lib in ("aiohttp", "prometheus_client", "asyncio", "aiosqlite", "multidict", "yarl"):
        if f"/{lib}/" in path:
            return lib
    if path.endswith("hit_cost.py"):
        return "the client (this script)"
    return func if path == "~" else path.rsplit("/", 1)[-1]


def print_areas(stats: pstats.Stats, requests: int) -> None:
    """The profile's own time summed by area (us per request under the profiler, and share):
    the flat list above, in a dozen lines."""
    own: dict[str, float] = {}
    for (path, _, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        k = area(path, func)
        own[k] = own.get(k, 0.0) + tottime
    total = sum(own.values())
    print(f"own time by area (us per request under cProfile; all: {total / requests * 1e6:.0f}):")
    for k, v in sorted(own.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {v / requests * 1e6:6.1f}  {v / total:6.1%}  {k}")


def callgrind(argv: list[str], n: int) -> None:
    """Instructions per request: this script under valgrind with n and 3n requests."""
    counts = []
    for requests in (n, 3 * n):
        out = tempfile.mktemp(prefix="callgrind.")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                *argv,
                "--requests",
                str(requests),
            ],
            check=True,
            capture_output=True,
            # One hash seed: with a random one, dict layouts (so instruction counts) differ
            # from run to run by up to ~2%, more than many changes worth measuring. One
            # OpenBLAS thread: numpy's idle pool threads spin-wait, which valgrind (running
            # one thread at a time) counts by the million, more when the machine is busy.
            env={
                **os.environ,
                "PYTHONHASHSEED": "0",
                "OPENBLAS_NUM_THREADS": "1",
                STEADY: "1",
            },
        )
        with open(out) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        os.unlink(out)
        counts.append(total)
    print(f"instructions per request: {(counts[1] - counts[0]) / (2 * n):,.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--trivial",
        nargs="?",
        const="app",
        choices=["app", "server", "raw"],
        help="a trivial handler instead: in an aiohttp application (the default), on "
        "aiohttp's low-level server, or raw bytes on an asyncio protocol",
    )
    ap.add_argument(
        "--off", nargs="*", default=[], choices=["auth", "limits", "metrics", "usage", "semantic"]
    )
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-out", metavar="FILE", help="--profile: also save the stats here")
    ap.add_argument("--miss", action="store_true", help="pass-through to an in-process mock")
    ap.add_argument("--bare", action="store_true", help="the reference proxy, to the same mock")
    ap.add_argument("--aiohttp-front", action="store_true", help="aigw with server.lean_front off")
    ap.add_argument("--callgrind", action="store_true", help="instructions per request")
    args = ap.parse_args()
    if args.callgrind:
        argv = [a for a in sys.argv[1:] if a != "--callgrind"]
        if "--requests" in argv:
            i = argv.index("--requests")
            del argv[i : i + 2]
        callgrind(argv, args.requests if "--requests" in sys.argv else 1000)
        sys.exit(0)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))
