"""`aigw serve`: run the gateway (one process, or N workers sharing the port)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from aigw import config as configmod
from aigw.config import Config, ConfigError
from aigw.observability import logging as obslog

log = logging.getLogger("aigw")

# The stop signals, held back while a gateway starts (see `serve`, `_serve`, `run_workers`).
_CAN_BLOCK = hasattr(signal, "pthread_sigmask")  # not on Windows (one process there)
_STOPS = {signal.SIGTERM, signal.SIGINT}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="AIGW_CONFIG",
        help="YAML config file (default: embedded defaults).",
    ),
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port to listen on."),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Processes sharing the port (SO_REUSEPORT)."
    ),
) -> None:
    """Start the gateway."""
    # A stop from here on waits for the worker's own handler (`_serve`), so a gateway half
    # started is never killed by it: it stops cleanly once it listens.
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        cfg = configmod.load(config)
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    if host is not None:
        cfg.server.host = host
    if port is not None:
        cfg.server.port = port
    if workers is not None:
        cfg.server.workers = workers
    for where in placeholder_secrets(cfg):
        typer.echo(
            f"refusing to start: {where} is still a placeholder (change-me-...); "
            "set a secret of your own, e.g. $(openssl rand -hex 32)",
            err=True,
        )
        raise typer.Exit(2)
    from aigw.observability import logging as obslog

    obslog.setup(cfg.logging.level, cfg.logging.format)
    if not cfg.logging.access_log:
        logging.getLogger("aigw.access").setLevel(logging.WARNING)
    try:
        code = run_worker(cfg) if cfg.server.workers == 1 else run_workers(cfg)
    except StartupFailed as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


PLACEHOLDER = "change-me"  # the prefix of every example secret we ship (packaging/)


def placeholder_secrets(cfg: Config) -> list[str]:
    """Where an example secret was left in place: anyone who read the example knows it."""
    found = []
    if os.environ.get("AIGW_ADMIN_KEY", "").startswith(PLACEHOLDER):
        found.append("AIGW_ADMIN_KEY")
    if (cfg.auth.hash_secret or "").startswith(PLACEHOLDER):
        found.append("auth.hash_secret")
    if cfg.auth.jwt is not None and (cfg.auth.jwt.secret or "").startswith(PLACEHOLDER):
        found.append("auth.jwt.secret")
    return found


class StartupFailed(Exception):
    """An OS error while starting (port taken, address not ours, data dir not writable):
    one line for the user, not a traceback."""


def _reason(e: OSError) -> str:
    text = e.strerror or str(e)
    text = text[:1].lower() + text[1:]
    return f"{e.filename}: {text}" if e.filename else text


def listen(host: str, port: int, reuse_port: bool) -> socket.socket:
    try:
        return bind_socket(host, port, reuse_port)
    except OSError as e:
        shown = f"[{host}]" if ":" in host else host
        raise StartupFailed(f"cannot listen on {shown}:{port}: {_reason(e)}") from None


def bind_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def run_worker(
    cfg: Config,
    sock: socket.socket | None = None,
    worker_id: int = 0,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run one server process until SIGTERM/SIGINT, then drain and return the exit code.
    `on_ready` is called once it serves and a signal stops it cleanly (the bench harness)."""
    if sock is None:  # before anything slow: a taken port fails at once
        sock = listen(cfg.server.host, cfg.server.port, reuse_port=False)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # Windows: the default loop works too
        pass
    return asyncio.run(_serve(cfg, sock, worker_id, on_ready))


async def _serve(
    cfg: Config, sock: socket.socket, worker_id: int, on_ready: Callable[[], None] | None
) -> int:
    # A SIGTERM during start-up (a deploy rolled back, a unit stopped as it started) is a
    # clean stop too, acted on once the worker listens; before, it killed the worker. Ctrl-C
    # (SIGINT) keeps asyncio's own handling until then: it interrupts a start-up that hangs.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if _CAN_BLOCK:  # a `--workers` parent forked us with them blocked: now they can come
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)

    from aigw.server.accept import AcceptSite
    from aigw.server.app import create_app
    from aigw.server.connections import GatewayRunner

    try:
        app = create_app(cfg)
    except OSError as e:  # e.g. the embedding model's directory
        raise StartupFailed(f"cannot start: {_reason(e)}") from None
    runner = GatewayRunner(
        app,
        cfg.server,
        handler_cancellation=True,
        shutdown_timeout=cfg.server.drain_timeout,
        access_log=None,
    )
    try:
        await runner.setup()  # runs the components' start hooks
        site = AcceptSite(runner, sock)
        await site.start()
    except OSError as e:
        # Stop what did start (threads, pools), or the process would never exit.
        await runner.cleanup()
        raise StartupFailed(f"cannot start: {_reason(e)}") from None
    settle_heap()
    host, port = sock.getsockname()[:2]
    log.info(
        "aigw listening",
        extra={
            "host": host,
            "port": port,
            "worker": worker_id,
            "pid": os.getpid(),
            "models": len(cfg.models),
        },
    )
    if not cfg.providers:
        log.warning("no providers configured: " + configmod.no_provider_hint())
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if on_ready is not None:
        on_ready()
    await stop.wait()
    log.info(
        "shutting down: draining in-flight requests",
        extra={"drain_timeout_s": cfg.server.drain_timeout, "worker": worker_id},
    )
    await runner.cleanup()  # stops accepting, waits for handlers (bounded), closes
    log.info("stopped", extra={"worker": worker_id})
    obslog.flush()
    return 0


def settle_heap() -> None:
    """After start-up, move everything loaded so far (the embedding model's vocabulary, the
    router's tables, imported modules: millions of objects) out of the garbage collector's
    sight, and collect the young generation less often. Without this, full collections of
    that long-lived heap stall the event loop for 150-190 ms several times a minute."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def worker_main(
    cfg: Config,
    sock: socket.socket,
    worker_id: int,
    siblings: list[socket.socket],
    on_ready: Callable[[], None] | None = None,
) -> None:
    """A forked worker's whole life (`run_workers`, and the bench harness's gateways)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    for other in siblings:  # inherited by fork; held here, they would outlive their worker
        other.close()
    try:
        code = run_worker(cfg, sock, worker_id, on_ready)
    except StartupFailed as e:
        # One write per line: workers failing together must not interleave their lines.
        os.write(sys.stderr.fileno(), f"{e}\n".encode())
        code = 1
    sys.exit(code)


def run_workers(cfg: Config) -> int:
    """N processes accept on the same port: each binds its own SO_REUSEPORT socket so the
    kernel spreads connections across them."""
    ctx = multiprocessing.get_context("fork")
    procs: list[multiprocessing.context.ForkProcess] = []
    mp = None
    if cfg.observability.metrics.enabled:  # one scrape sums the workers (before forking)
        from aigw.observability.multiproc import MultiprocDir

        mp = MultiprocDir()
    socks: list[socket.socket] = []

    def release() -> None:  # what a start-up that failed leaves behind
        for sock in socks:
            sock.close()
        if mp is not None:
            mp.close()

    def stop_all() -> None:
        for p in procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, signal.SIGTERM)

    try:  # every socket before any fork: a taken port fails once, with nothing to undo
        for _ in range(cfg.server.workers):
            socks.append(listen(cfg.server.host, cfg.server.port, reuse_port=True))
    except StartupFailed:
        release()
        raise
    # The workers start with SIGTERM blocked (and SIGINT, which they ignore) until their own
    # handler is in (`_serve`): a stop that comes while one is still starting waits for it
    # instead of killing it. Here, a stop while forking waits for the handlers below, so no
    # worker is left running unstopped. (`serve` blocked them already; other callers may not.)
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        for i, sock in enumerate(socks):
            siblings = socks[i + 1 :]
            p = ctx.Process(target=worker_main, args=(cfg, sock, i, siblings), daemon=False)
            p.start()
            sock.close()
            procs.append(p)
    except OSError as e:  # no fork (out of memory or processes): the started ones stop too
        stop_all()  # taken once each has started: a clean stop
        for p in procs:
            p.join()
        release()
        if _CAN_BLOCK:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
        raise StartupFailed(f"cannot start workers: {_reason(e)}") from None

    signal.signal(signal.SIGTERM, lambda _s, _f: stop_all())
    signal.signal(signal.SIGINT, lambda _s, _f: stop_all())
    if _CAN_BLOCK:  # one that came meanwhile is handled now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    log.info("started workers", extra={"workers": len(procs)})  # a signal now stops them all
    code = 0
    running = {p.sentinel: p for p in procs}
    while running:
        for sentinel in multiprocessing.connection.wait(list(running)):
            p = running.pop(sentinel)  # type: ignore[arg-type]
            p.join()
            if p.exitcode and not code:
                # A worker that failed (at start-up, or later) takes the others down, so
                # the parent exits non-zero instead of limping on with fewer workers.
                code = p.exitcode if p.exitcode > 0 else 1
                stop_all()
            if mp is not None:
                mp.worker_exited(p.pid)
    if mp is not None:
        mp.close()
    return code
