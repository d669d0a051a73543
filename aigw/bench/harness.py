"""Servers for a benchmark, each in its own child process on loopback: the mock upstream, and
aigw wired to it (one worker or several sharing the port).

Each listening socket is bound in the parent before the child starts, so its port is known
at once and nothing races for it; children are forked (they work in the PyInstaller binary
too, where there is no separate Python to start).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BENCH_MODEL = "gpt-bench"


def listen(host: str = "127.0.0.1", port: int = 0, reuse_port: bool = False) -> socket.socket:
    """A listening socket, bound as `aigw serve` binds its own."""
    from aigw.cli.serve import bind_socket

    return bind_socket(host, port, reuse_port)


def _quiet_child() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def _mock_main(sock: socket.socket, mock_kw: dict[str, Any], started: Any) -> None:
    _quiet_child()
    from aiohttp import web

    from aigw.bench.mock_upstream import MockOpenAI

    async def main() -> None:
        mock = MockOpenAI(quiet_calls=True, **mock_kw)
        runner = web.AppRunner(mock.app(), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        started.set()
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())
    os._exit(0)


def _gateway_main(
    cfg: Any, sock: socket.socket, worker_id: int, siblings: list[socket.socket], started: Any
) -> None:
    from aigw.cli.serve import worker_main
    from aigw.observability import logging as obslog

    obslog.setup(cfg.logging.level, cfg.logging.format)  # as `aigw serve` does
    worker_main(cfg, sock, worker_id, siblings, on_ready=started.set)  # as its workers run


def gateway_config(upstream_url: str, data_dir: str, extra: dict[str, Any] | None = None) -> Any:
    """A gateway config with one OpenAI-type provider at `upstream_url` serving `gpt-bench`
    (and every other name, via the same provider), quiet logs, and `extra` sections merged in."""
    from aigw import config as configmod

    d: dict[str, Any] = {
        "providers": {"mock": {"type": "openai", "base_url": upstream_url, "api_key": "sk-mock"}},
        "models": {BENCH_MODEL: {"provider": "mock", "model": "mock-model"}},
        "logging": {"level": "warning", "access_log": False},
        "data_dir": data_dir,
    }
    if "auth" in configmod.Config.model_fields:
        d["auth"] = {"required": False}  # the bench measures the proxy, not key management
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return configmod.from_dict(d)


@dataclass
class Child:
    name: str
    url: str  # base URL of the OpenAI API (…/v1)
    procs: list[Any] = field(default_factory=list)
    metrics_dir: Any = None  # the workers' shared metrics files (several workers)
    # Per process, an event it sets once it serves (and SIGTERM stops it cleanly). Empty for
    # a child that does not say: `wait_ready` then has only its URL to go by.
    started: list[Any] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid]


def _fork(target: Callable[..., None], *args: Any) -> tuple[Any, Any]:
    """The started process, and the event it sets once it serves (its last argument)."""
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    p = ctx.Process(target=target, args=(*args, started), daemon=True)
    p.start()
    return p, started


def start_mock(host: str = "127.0.0.1", **mock_kw: Any) -> Child:
    """`mock_kw`: latency (s), tokens_per_second, error_rate, text (see MockOpenAI)."""
    sock = listen(host)
    port = sock.getsockname()[1]
    p, started = _fork(_mock_main, sock, mock_kw)
    sock.close()
    return Child("mock", f"http://{host}:{port}/v1", [p], started=[started])


def start_gateway(
    upstream_url: str,
    workers: int = 1,
    host: str = "127.0.0.1",
    extra: dict[str, Any] | None = None,
    data_dir: str | None = None,
) -> Child:
    """aigw in front of `upstream_url`; several workers get SO_REUSEPORT sockets on one port
    and share their metrics through prometheus-client's multiprocess files, as
    `aigw serve --workers N` does."""
    cfg = gateway_config(upstream_url, data_dir or tempfile.mkdtemp(prefix="aigw-bench-"), extra)
    first = listen(host, 0, reuse_port=workers > 1)
    port = first.getsockname()[1]
    socks = [first] + [listen(host, port, reuse_port=True) for _ in range(workers - 1)]
    mp = None
    if workers > 1 and cfg.observability.metrics.enabled:
        from aigw.observability.multiproc import ENV, MultiprocDir

        # A directory of the benchmark's own, never the caller's (whose files it would clear).
        callers = os.environ.pop(ENV, None)
        mp = MultiprocDir()  # sets the variable the forked workers read
    forked = [_fork(_gateway_main, cfg, s, i, socks[i + 1 :]) for i, s in enumerate(socks)]
    if mp is not None:
        # These workers' only: children started later go without it, as before.
        os.environ.pop(ENV, None)
        if callers is not None:
            os.environ[ENV] = callers
    for s in socks:
        s.close()
    return Child(
        "aigw", f"http://{host}:{port}/v1", [p for p, _ in forked], mp, [e for _, e in forked]
    )


async def wait_ready(target: Child | str, timeout: float = 30.0, path: str = "/models") -> None:
    """Poll until the server answers (any HTTP status), or raise after `timeout` seconds.
    A child's processes must each say they serve first: behind one port, an answer shows only
    that one worker is up, and a benchmark would start on part of the gateway (or stop a
    worker still starting, which then dies of the signal instead of exiting 0)."""
    import aiohttp

    deadline = time.monotonic() + timeout
    url = target if isinstance(target, str) else target.url
    if isinstance(target, Child):
        while not all(e.is_set() for e in target.started):
            for p, e in zip(target.procs, target.started, strict=True):
                if not e.is_set() and not p.is_alive():
                    raise RuntimeError(f"{target.name} exited ({p.exitcode}) before serving")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not start within {timeout:.0f}s")
            await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url.rstrip("/") + path) as r:
                    await r.read()
                    return
            except (aiohttp.ClientError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not start within {timeout:.0f}s") from None
                await asyncio.sleep(0.05)


def stop(*children: Child, timeout: float = 10.0) -> list[int | None]:
    """SIGTERM each child process, wait for it, and return the exit codes."""
    codes: list[int | None] = []
    for c in children:
        for p in c.procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
    for c in children:
        for p in c.procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(1)
            codes.append(p.exitcode)
    for c in children:
        if c.metrics_dir is not None:
            c.metrics_dir.close()
    return codes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc (Linux; else 0)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc (Linux)."""
    cur = peak = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak
