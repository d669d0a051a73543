"""An honest load generator for OpenAI-compatible chat endpoints.

Two ways to apply load:

- closed loop (`concurrency=N`): N workers, each sends its next request when the previous
  answer is complete. Latency is measured from the moment a request is sent.
- open loop (`rate=R`): the send times are computed before the run starts (one every 1/R
  seconds, or Poisson arrivals) and each request is launched at its time whether or not the
  earlier ones have been answered, so a slow server cannot slow the schedule down. Latency is
  measured from the *scheduled* time: time a request spent waiting because the server (or a
  full connection pool) was slow counts against the server. This avoids coordinated omission.
  How late the generator itself launched requests is reported as `schedule_lag`, so a run in
  which the generator was the bottleneck can be recognised.

Percentiles come from HDR histograms (microsecond resolution, 3 significant digits). Streams
also give the time to first chunk/token and the gaps between chunks. Where the target is aigw,
its `x-aigw-upstream-ms` header gives the gateway's own overhead: total time minus upstream time.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from hdrh.histogram import HdrHistogram

SCENARIOS = ("miss", "exact-hit", "semantic-hit", "stream", "mixed")

DEFAULT_PROMPTS = [
    "What is the capital of France?",
    "Explain the difference between TCP and UDP in two sentences.",
    "Write a haiku about autumn leaves.",
    "How many legs does a spider have?",
    "Give me three tips for writing clear error messages.",
]


def reword(prompt: str, i: int) -> str:
    """The i-th variant of a prompt that keeps its meaning for a semantic cache (same words,
    same order, same numbers and names) but is never byte-identical to it or to another
    variant: doubled spaces at the positions given by i's bits, the end punctuation, leading spaces."""
    words = prompt.rstrip("?.! ").split(" ")
    ends = ("?", " ?", "??", "?!", "")
    n = i + 1
    out = []
    for j, w in enumerate(words):
        out.append(w)
        if j < len(words) - 1:
            out.append("  " if (n >> j) & 1 else " ")
    rest = n >> max(0, len(words) - 1)
    return " " * (rest // len(ends)) + "".join(out) + ends[rest % len(ends)]


_MAX_US = 3_600_000_000  # one hour, the largest value a histogram records


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, 3)


def _record(h: HdrHistogram, seconds: float) -> None:
    h.record_value(min(_MAX_US, max(1, int(seconds * 1_000_000))))


def summarise(h: HdrHistogram) -> dict[str, float] | None:
    """Milliseconds: p50/p90/p95/p99/max and mean; None when nothing was recorded."""
    if h.get_total_count() == 0:
        return None
    out = {f"p{p}": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 95, 99)}
    out["p99.9"] = h.get_value_at_percentile(99.9) / 1000
    out["max"] = h.get_max_value() / 1000
    out["mean"] = round(h.get_mean_value() / 1000, 3)
    out["count"] = h.get_total_count()
    return out


# --- what to send -----------------------------------------------------------------------------


@dataclass(slots=True)
class Planned:
    body: bytes
    stream: bool
    kind: str  # the scenario this request belongs to (mixed runs several)


class RequestPlan:
    """Builds request bodies for a scenario.

    - miss: every request unique (a run id and a counter appended), so no cache can answer.
    - exact-hit: the same few prompts again and again (after a warm-up that stores them).
    - semantic-hit: rewordings of the warmed-up prompts, never byte-identical to them.
    - stream: unique prompts with `"stream": true`.
    - mixed: 50% exact-hit, 25% miss, 10% semantic-hit, 15% stream, interleaved.
    """

    MIX = ("exact-hit",) * 10 + ("miss",) * 5 + ("semantic-hit",) * 2 + ("stream",) * 3

    def __init__(
        self,
        model: str,
        prompts: list[Any] | None = None,
        scenario: str = "miss",
        stream: bool = False,
        max_tokens: int | None = None,
        hot_prompts: int = 1,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (one of {', '.join(SCENARIOS)})")
        self.model = model
        self.prompts = prompts or list(DEFAULT_PROMPTS)
        self.scenario = scenario
        self.stream = stream or scenario == "stream"
        self.max_tokens = max_tokens
        self.hot = self.prompts[: max(1, hot_prompts)]
        self.deterministic = scenario in ("exact-hit", "semantic-hit", "mixed")
        self.run_id = uuid.uuid4().hex[:8]
        self._mix = list(self.MIX)
        random.Random(7).shuffle(self._mix)

    def _messages(self, prompt: Any, suffix: str = "") -> list[dict[str, Any]]:
        if isinstance(prompt, list):  # already a list of messages (from a JSONL prompt file)
            if not suffix:
                return prompt
            last = dict(prompt[-1])
            last["content"] = f"{last.get('content', '')}{suffix}"
            return [*prompt[:-1], last]
        return [{"role": "user", "content": f"{prompt}{suffix}"}]

    def _body(self, messages: list[dict[str, Any]], stream: bool) -> bytes:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.deterministic:
            body["temperature"] = 0  # caches answer only requests whose answer is repeatable
        if stream:
            body["stream"] = True
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        return orjson.dumps(body)

    def _kind_body(self, kind: str, i: int) -> Planned:
        n = len(self.prompts)
        if kind == "exact-hit":
            return Planned(
                self._body(self._messages(self.hot[i % len(self.hot)]), False), False, kind
            )
        if kind == "semantic-hit":
            p = self.hot[i % len(self.hot)]
            if isinstance(p, list):
                last = p[-1]
                msgs = [*p[:-1], {**last, "content": reword(str(last.get("content", "")), i)}]
            else:
                msgs = self._messages(reword(p, i))
            return Planned(self._body(msgs, False), False, kind)
        stream = self.stream if kind == "miss" else True
        msgs = self._messages(self.prompts[i % n], f" [{self.run_id}-{i}]")
        return Planned(self._body(msgs, stream), stream, kind)

    def request(self, i: int) -> Planned:
        kind = self._mix[i % len(self._mix)] if self.scenario == "mixed" else self.scenario
        return self._kind_body(kind, i)

    def warmup(self) -> list[Planned]:
        """Requests to send before measuring: they put the hot prompts in the cache."""
        if self.scenario not in ("exact-hit", "semantic-hit", "mixed"):
            return []
        return [Planned(self._body(self._messages(p), False), False, "warmup") for p in self.hot]


def load_prompts(path: str) -> list[Any]:
    """One prompt per line; a line that is a JSON object may hold `messages` or `prompt`."""
    out: list[Any] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                obj = orjson.loads(line)
                out.append(obj["messages"] if "messages" in obj else obj["prompt"])
            else:
                out.append(line)
    if not out:
        raise ValueError(f"{path}: no prompts")
    return out


# --- the measurements -------------------------------------------------------------------------


@dataclass
class Stats:
    latency: HdrHistogram = field(default_factory=new_histogram)
    ttfc: HdrHistogram = field(default_factory=new_histogram)  # first chunk of a stream
    ttft: HdrHistogram = field(default_factory=new_histogram)  # first content token
    gaps: HdrHistogram = field(default_factory=new_histogram)  # between chunks
    overhead: HdrHistogram = field(default_factory=new_histogram)  # total - upstream (aigw)
    ttfb_overhead: HdrHistogram = field(
        default_factory=new_histogram
    )  # streams: ttfc - upstream ttfb
    schedule_lag: HdrHistogram = field(default_factory=new_histogram)  # open loop: late launches
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)  # x-aigw-cache header values
    bytes_in: int = 0

    def merge(self, other: Stats) -> None:
        for name in (
            "latency",
            "ttfc",
            "ttft",
            "gaps",
            "overhead",
            "ttfb_overhead",
            "schedule_lag",
        ):
            getattr(self, name).add(getattr(other, name))
        self.ok += other.ok
        self.errors.update(other.errors)
        self.cache.update(other.cache)
        self.bytes_in += other.bytes_in


@dataclass
class LoadResult:
    target: str
    scenario: str
    mode: str  # "closed" | "open"
    concurrency: int | None
    rate: float | None
    elapsed: float
    stats: Stats
    by_kind: dict[str, Stats]

    @property
    def requests(self) -> int:
        return self.stats.ok + sum(self.stats.errors.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "target": self.target,
            "scenario": self.scenario,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "elapsed_s": round(self.elapsed, 3),
            "requests": self.requests,
            "ok": s.ok,
            "errors": dict(s.errors),
            "throughput_rps": round(self.throughput, 1),
            "latency_ms": summarise(s.latency),
            "ttfc_ms": summarise(s.ttfc),
            "ttft_ms": summarise(s.ttft),
            "inter_chunk_ms": summarise(s.gaps),
            "gateway_overhead_ms": summarise(s.overhead),
            "gateway_ttfb_overhead_ms": summarise(s.ttfb_overhead),
            "schedule_lag_ms": summarise(s.schedule_lag),
            "cache": dict(s.cache),
            "by_kind": {
                k: {
                    "requests": v.ok + sum(v.errors.values()),
                    "errors": dict(v.errors),
                    "latency_ms": summarise(v.latency),
                    "cache": dict(v.cache),
                }
                for k, v in self.by_kind.items()
            }
            if len(self.by_kind) > 1
            else {},
        }


# --- the generator ----------------------------------------------------------------------------


@dataclass
class LoadConfig:
    url: str  # base URL of the OpenAI API, e.g. http://127.0.0.1:8080/v1
    model: str = "gpt-bench"
    key: str | None = None
    scenario: str = "miss"
    stream: bool = False
    prompts: list[Any] | None = None
    concurrency: int | None = None  # closed loop
    rate: float | None = None  # open loop, requests per second
    duration: float | None = None  # seconds
    requests: int | None = None
    arrival: str = "uniform"  # open loop: "uniform" or "poisson"
    max_connections: int = 1024  # open loop: connection pool size
    timeout: float = 60.0
    max_tokens: int | None = None
    warmup: bool = True
    headers: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError(
                "give exactly one of --concurrency (closed loop) or --rate (open loop)"
            )
        if self.duration is None and self.requests is None:
            raise ValueError("give --duration and/or --requests to bound the run")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("--rate must be positive")
        if self.arrival not in ("uniform", "poisson"):
            raise ValueError("--arrival must be uniform or poisson")


class Progress:
    """Counters a caller may poll while the run goes (the CLI draws its progress bar from it)."""

    def __init__(self) -> None:
        self.done = 0
        self.errors = 0
        self.total: int | None = None
        self.started = 0.0
        self.duration: float | None = None


def schedule(rate: float, n: int, arrival: str = "uniform", seed: int = 1) -> list[float]:
    """Send offsets in seconds from the start, computed before the run begins."""
    if arrival == "uniform":
        return [i / rate for i in range(n)]
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out


class LoadGenerator:
    def __init__(self, cfg: LoadConfig, progress: Progress | None = None) -> None:
        cfg.check()
        self.cfg = cfg
        self.plan = RequestPlan(
            cfg.model, cfg.prompts, cfg.scenario, cfg.stream, max_tokens=cfg.max_tokens
        )
        self.endpoint = cfg.url.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json", **cfg.headers}
        if cfg.key:
            self.headers["Authorization"] = f"Bearer {cfg.key}"
        self.progress = progress or Progress()
        self.stats = Stats()
        self.by_kind: dict[str, Stats] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadGenerator:
        limit = self.cfg.concurrency or self.cfg.max_connections
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=self.cfg.timeout),
            skip_auto_headers=("User-Agent",),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session:
            await self._session.close()

    async def run(self, warmup: bool | None = None) -> LoadResult:
        """One measured run. Warm-up requests (hit scenarios) go first and are not counted."""
        own = self._session is None
        if own:
            await self.__aenter__()
        try:
            if self.cfg.warmup if warmup is None else warmup:
                for planned in self.plan.warmup():
                    await self._one(planned, time.perf_counter(), Stats())
            self.stats, self.by_kind = Stats(), {}
            p = self.progress
            p.done = p.errors = 0
            p.duration = self.cfg.duration
            p.total = self.cfg.requests
            if self.cfg.rate is not None:
                n = self.cfg.requests or int(self.cfg.rate * (self.cfg.duration or 0)) or 1
                if self.cfg.duration is not None:
                    n = min(n, max(1, int(self.cfg.rate * self.cfg.duration)))
                p.total = n
            p.started = t0 = time.perf_counter()
            if self.cfg.concurrency is not None:
                await self._closed_loop()
            else:
                await self._open_loop()
            elapsed = time.perf_counter() - t0
        finally:
            if own:
                await self.__aexit__()
        return LoadResult(
            target=self.cfg.url,
            scenario=self.cfg.scenario,
            mode="closed" if self.cfg.concurrency is not None else "open",
            concurrency=self.cfg.concurrency,
            rate=self.cfg.rate,
            elapsed=elapsed,
            stats=self.stats,
            by_kind=self.by_kind,
        )

    async def _closed_loop(self) -> None:
        cfg = self.cfg
        deadline = time.perf_counter() + cfg.duration if cfg.duration is not None else None
        limit = cfg.requests
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while True:
                if limit is not None and issued >= limit:
                    return
                now = time.perf_counter()
                if deadline is not None and now >= deadline:
                    return
                i = issued
                issued += 1
                planned = self.plan.request(i)
                await self._one(planned, now, self._kind_stats(planned.kind))

        await asyncio.gather(*(worker() for _ in range(cfg.concurrency or 1)))

    async def _open_loop(self) -> None:
        cfg = self.cfg
        assert cfg.rate is not None
        offsets = schedule(cfg.rate, self.progress.total or 1, cfg.arrival)
        plans = [self.plan.request(i) for i in range(len(offsets))]  # bodies built ahead too
        start = time.perf_counter() + 0.01
        tasks: set[asyncio.Task[None]] = set()
        for off, planned in zip(offsets, plans, strict=True):
            at = start + off
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            _record(self.stats.schedule_lag, max(0.0, time.perf_counter() - at))
            t = asyncio.create_task(self._one(planned, at, self._kind_stats(planned.kind)))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    def _kind_stats(self, kind: str) -> Stats:
        s = self.by_kind.get(kind)
        if s is None:
            s = self.by_kind[kind] = Stats()
        return s

    async def _one(self, planned: Planned, scheduled: float, kind_stats: Stats) -> None:
        """Send one request; `scheduled` is the time latency is measured from."""
        assert self._session is not None
        status = "?"
        upstream = cache = None
        sent = time.perf_counter()
        try:
            async with self._session.post(
                self.endpoint, data=planned.body, headers=self.headers
            ) as resp:
                upstream = resp.headers.get("x-aigw-upstream-ms")
                cache = resp.headers.get("x-aigw-cache")
                if resp.status != 200:
                    await resp.read()
                    status = str(resp.status)
                elif planned.stream:
                    status = await self._read_stream(resp, sent, kind_stats)
                else:
                    self.stats.bytes_in += len(await resp.read())
                    status = "ok"
            end = time.perf_counter()
        except TimeoutError:
            end, status = time.perf_counter(), "timeout"
        except aiohttp.ClientError as e:
            end, status = time.perf_counter(), type(e).__name__
        except OSError as e:
            end, status = time.perf_counter(), type(e).__name__
        for s in (self.stats, kind_stats):
            if status == "ok":
                s.ok += 1
                _record(s.latency, end - scheduled)
                if cache:
                    s.cache[cache] += 1
                if upstream is not None:
                    _record(s.overhead, max(0.0, end - sent - float(upstream) / 1000))
            else:
                s.errors[status] += 1
        self.progress.done += 1
        if status != "ok":
            self.progress.errors += 1

    async def _read_stream(
        self, resp: aiohttp.ClientResponse, sent: float, kind_stats: Stats
    ) -> str:
        """Read SSE events as they come; time the first chunk, the first token and the gaps."""
        first_chunk = first_token = last = None
        status = "ok"
        nbytes = 0
        async for line in resp.content:
            now = time.perf_counter()
            nbytes += len(line)
            if not line.startswith(b"data:"):
                continue
            if first_chunk is None:
                first_chunk = now
            else:
                _record(self.stats.gaps, now - last)  # type: ignore[operator]
            last = now
            if first_token is None and b'"content":"' in line and b'"content":""' not in line:
                first_token = now
            if b'"error"' in line and b'"choices"' not in line:
                status = "stream_error"
        self.stats.bytes_in += nbytes
        if status == "ok":
            for s in (self.stats, kind_stats):
                if first_chunk is not None:
                    _record(s.ttfc, first_chunk - sent)
                    ttfb = resp.headers.get("x-aigw-upstream-ttfb-ms")
                    if ttfb is not None:
                        _record(s.ttfb_overhead, max(0.0, first_chunk - sent - float(ttfb) / 1000))
                if first_token is not None:
                    _record(s.ttft, first_token - sent)
        return status


async def run_load(cfg: LoadConfig, progress: Progress | None = None) -> LoadResult:
    async with LoadGenerator(cfg, progress) as gen:
        return await gen.run()


async def compare(
    a: LoadConfig,
    b: LoadConfig,
    rounds: int = 2,
    progress: Progress | None = None,
    on_round: Callable[[int, str], None] | None = None,
) -> tuple[LoadResult, LoadResult]:
    """The same load against two targets in alternation (A, B, A, B, ...): each target gets
    the whole budget split into `rounds` slices, so drift on a shared machine hits both."""

    def sliced(c: LoadConfig) -> LoadConfig:
        d = LoadConfig(**{**c.__dict__})
        if d.duration is not None:
            d.duration = d.duration / rounds
        if d.requests is not None:
            d.requests = max(1, d.requests // rounds)
        return d

    results: dict[str, LoadResult] = {}
    gens = [LoadGenerator(sliced(a), progress), LoadGenerator(sliced(b), progress)]
    for g in gens:
        await g.__aenter__()
    try:
        for r in range(rounds):
            for name, g in zip(("A", "B"), gens, strict=True):
                if on_round:
                    on_round(r, name)
                res = await g.run(warmup=r == 0 and g.cfg.warmup)
                if name in results:
                    acc = results[name]
                    acc.stats.merge(res.stats)
                    for k, v in res.by_kind.items():
                        acc.by_kind.setdefault(k, Stats()).merge(v)
                    acc.elapsed += res.elapsed
                else:
                    results[name] = res
    finally:
        for g in gens:
            await g.__aexit__()
    return results["A"], results["B"]
