"""`aigw bench`: load-test aigw or any OpenAI-compatible endpoint.

aigw bench --mock-upstream --concurrency 8 --duration 10s
aigw bench --url http://gw:8080/v1 --key sk-... --model gpt-4o-mini --rate 200 --requests 5000
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from aigw.config import parse_duration


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def _cache_section(scenario: str) -> dict[str, Any]:
    """For hit scenarios against the built-in gateway: switch the cache on (exact, and
    semantic where asked), whatever the cache section's model calls its switches."""
    from aigw.config import Config

    field = Config.model_fields.get("cache")
    if field is None or scenario not in ("exact-hit", "semantic-hit", "mixed"):
        return {}
    model = field.annotation
    fields = getattr(model, "model_fields", {})
    section: dict[str, Any] = {}
    if "enabled" in fields:
        section["enabled"] = True
    sem = fields.get("semantic")
    if scenario in ("semantic-hit", "mixed") and sem is not None:
        sub = getattr(sem.annotation, "model_fields", {})
        if "enabled" in sub:
            section["semantic"] = {"enabled": True}
    return {"cache": section} if section else {}


def bench(
    url: str | None = typer.Option(
        None, "--url", help="Base URL of the OpenAI API to load, e.g. http://127.0.0.1:8080/v1."
    ),
    key: str | None = typer.Option(
        None, "--key", envvar="AIGW_BENCH_KEY", help="API key sent as a Bearer token."
    ),
    model: str = typer.Option("gpt-bench", "--model", help="Model name to ask for."),
    prompt_file: Path | None = typer.Option(
        None,
        "--prompt-file",
        exists=True,
        dir_okay=False,
        help="Prompts, one per line (or JSON lines with `messages` or `prompt`).",
    ),
    stream: bool = typer.Option(False, "--stream", help="Ask for streamed answers (SSE)."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, help="Closed loop: this many requests in flight."
    ),
    rate: float | None = typer.Option(
        None,
        "--rate",
        "-r",
        help="Open loop: requests per second, on a schedule fixed ahead (no coordinated omission).",
    ),
    arrival: str = typer.Option(
        "uniform", "--arrival", help="Open loop arrivals: uniform or poisson."
    ),
    duration: str | None = typer.Option(
        None, "--duration", "-d", help="How long to run, e.g. 10s, 1m."
    ),
    requests: int | None = typer.Option(
        None, "--requests", "-n", min=1, help="How many requests to send."
    ),
    scenario: str = typer.Option(
        "miss", "--scenario", help="miss | exact-hit | semantic-hit | stream | mixed."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="max_tokens per request."),
    timeout: str = typer.Option("60s", "--timeout", help="Per-request timeout."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the figures to this file."),
    compare_url: str | None = typer.Option(
        None,
        "--compare",
        help="A second base URL loaded the same way in alternation; prints B/A ratios. "
        "With --mock-upstream, `mock` means the mock upstream directly.",
    ),
    rounds: int = typer.Option(2, "--rounds", min=1, help="--compare: alternations per target."),
    mock_upstream: bool = typer.Option(
        False,
        "--mock-upstream",
        help="Start the built-in mock provider and an aigw wired to it (child processes on "
        "loopback) and load that aigw.",
    ),
    mock_latency: str = typer.Option("0s", "--mock-latency", help="Mock: delay before answering."),
    mock_tps: float = typer.Option(
        0.0, "--mock-tps", help="Mock: stream pacing in tokens per second (0: as fast as it can)."
    ),
    mock_error_rate: float = typer.Option(
        0.0, "--mock-error-rate", min=0.0, max=1.0, help="Mock: share of requests answered 500."
    ),
    gateway_workers: int = typer.Option(
        1, "--gateway-workers", min=1, help="--mock-upstream: aigw worker processes."
    ),
    gateway_config: Path | None = typer.Option(
        None,
        "--gateway-config",
        exists=True,
        dir_okay=False,
        help="--mock-upstream: YAML sections merged into the built-in gateway's config.",
    ),
    fail_on_errors: bool = typer.Option(
        False, "--fail-on-errors", help="Exit 1 if any request failed (for CI)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Load-test a gateway: throughput, latency percentiles, streams, gateway overhead."""
    from rich.console import Console

    from aigw.bench import harness, report
    from aigw.bench.loadgen import SCENARIOS, LoadConfig, load_prompts

    console = Console(stderr=True)
    if scenario not in SCENARIOS:
        _fail(f"--scenario: one of {', '.join(SCENARIOS)}")
    if not mock_upstream and not url:
        _fail("give --url (the target's base URL) or --mock-upstream")
    if concurrency is None and rate is None:
        concurrency = 8
    dur = _duration("--duration", duration) if duration else None
    if dur is None and requests is None:
        dur = 10.0
    prompts = None
    if prompt_file is not None:
        try:
            prompts = load_prompts(str(prompt_file))
        except (ValueError, KeyError, orjson.JSONDecodeError) as e:
            _fail(f"--prompt-file: {e}")

    def make(target: str) -> LoadConfig:
        c = LoadConfig(
            url=target,
            model=model,
            key=key,
            scenario=scenario,
            stream=stream,
            prompts=prompts,
            concurrency=concurrency,
            rate=rate,
            arrival=arrival,
            duration=dur,
            requests=requests,
            timeout=_duration("--timeout", timeout),
            max_tokens=max_tokens,
        )
        try:
            c.check()
        except ValueError as e:
            _fail(str(e))
        return c

    children: list[harness.Child] = []
    gw_pids: list[int] = []
    gw_cpu = gw_rss = 0.0
    try:
        if mock_upstream:
            extra = _cache_section(scenario)
            if gateway_config is not None:
                import yaml

                extra.update(yaml.safe_load(gateway_config.read_text()) or {})
            mock = harness.start_mock(
                latency=_duration("--mock-latency", mock_latency),
                tokens_per_second=mock_tps,
                error_rate=mock_error_rate,
            )
            children.append(mock)
            gw = harness.start_gateway(mock.url, workers=gateway_workers, extra=extra)
            children.append(gw)
            url = gw.url
            if compare_url == "mock":
                compare_url = mock.url
            asyncio.run(_ready(children))
            console.print(
                f"[dim]mock upstream {mock.url} · aigw {gw.url} "
                f"({gateway_workers} worker{'s' if gateway_workers > 1 else ''})[/dim]"
            )
        assert url is not None
        a = make(url)
        b = make(compare_url) if compare_url else None
        _use_uvloop()
        if mock_upstream:
            gw_pids = children[-1].pids
        cpu0 = sum(harness.cpu_seconds(p) for p in gw_pids)
        result = asyncio.run(_run(a, b, rounds, console, quiet))
        # The built-in gateway's own cost: CPU per answered request (warm-up included), far
        # steadier than req/s on a busy machine, and its peak resident memory.
        gw_cpu = sum(harness.cpu_seconds(p) for p in gw_pids) - cpu0
        gw_rss = max((harness.rss_mb(p)[1] for p in gw_pids), default=0.0)
    except RuntimeError as e:
        _fail(str(e))
    finally:
        codes = harness.stop(*children)
    if mock_upstream and any(c not in (0, None) for c in codes):
        console.print(f"[red]a bench server exited with {codes}[/red]")

    out = Console()
    if b is None:
        ra = result[0].to_dict()
        if gw_pids and ra["ok"]:
            ra["gateway_cpu_ms_per_request"] = round(gw_cpu / ra["ok"] * 1000, 4)
            ra["gateway_peak_rss_mb"] = round(gw_rss, 1)
        report.print_result(ra, out)
        payload: dict[str, Any] = ra
        failed = ra["requests"] - ra["ok"]
    else:
        ra, rb = result[0].to_dict(), result[1].to_dict()  # type: ignore[union-attr]
        report.print_result(ra, out)
        report.print_result(rb, out)
        out.print(report.compare_table(ra, rb))
        payload = {"a": ra, "b": rb, "ratios": report.ratios(ra, rb)}
        failed = ra["requests"] - ra["ok"] + rb["requests"] - rb["ok"]
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        console.print(f"[dim]figures written to {json_out}[/dim]")
    if fail_on_errors and (failed or (mock_upstream and any(c not in (0, None) for c in codes))):
        console.print(f"[red]{failed} request(s) failed[/red]")
        raise typer.Exit(1)


def _fail(msg: str) -> None:
    typer.echo(f"aigw bench: {msg}", err=True)
    raise typer.Exit(2)


def _duration(name: str, v: str) -> float:
    try:
        return parse_duration(v)
    except ValueError as e:
        _fail(f"{name}: {e}")
    raise AssertionError


def _use_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()  # a faster client: the generator should not be the bottleneck
    except ImportError:
        pass


async def _ready(children: list[Any]) -> None:
    from aigw.bench.harness import wait_ready

    await asyncio.gather(*(wait_ready(c) for c in children))


async def _run(a: Any, b: Any, rounds: int, console: Any, quiet: bool) -> tuple[Any, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aigw.bench import loadgen

    prog = loadgen.Progress()
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]:>7} done · {task.fields[errors]} errors"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not sys.stderr.isatty(),
    )
    label = {"label": a.url}

    async def poll() -> None:
        task = bar.add_task(label["label"], total=None, errors=0, done=0)
        while True:
            total: float | None = prog.total
            if total is None and prog.duration:
                # duration-bound closed loop: show time as the progress
                import time

                bar.update(
                    task,
                    total=prog.duration,
                    completed=min(prog.duration, time.perf_counter() - prog.started)
                    if prog.started
                    else 0,
                    errors=prog.errors,
                    done=prog.done,
                    description=label["label"],
                )
            else:
                bar.update(
                    task,
                    total=total,
                    completed=prog.done,
                    errors=prog.errors,
                    done=prog.done,
                    description=label["label"],
                )
            await asyncio.sleep(0.2)

    with bar:
        poller = asyncio.create_task(poll())
        try:
            if b is None:
                return (await loadgen.run_load(a, prog), None)

            def on_round(r: int, name: str) -> None:
                label["label"] = f"round {r + 1}: {name} {(a if name == 'A' else b).url}"

            return await loadgen.compare(a, b, rounds, prog, on_round)
        finally:
            poller.cancel()
