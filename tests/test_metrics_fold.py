"""Figures kept in plain numbers between folds read exactly as prometheus-client's own
children would have counted them, and every read folds first."""

from __future__ import annotations

import random

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from aigw.observability.metrics import LATENCY_BUCKETS, Metrics, _Count, _Hist
from aigw.observability.settings import MetricsSettings


def test_folded_counts_and_histograms_equal_direct_updates() -> None:
    rng = random.Random(18)
    # Bounds exactly, zero, beyond the last bound, and floats whose sum depends on the order.
    amounts = [0.0, 0.005, 0.01, 300, 301.5, 1e9, 0.1, 0.2, 0.3]
    amounts += [rng.uniform(0, 400) for _ in range(300)] + [rng.random() / 7 for _ in range(300)]
    disable_created_metrics()  # as Metrics does: no timestamps that differ
    regs = []
    for kept in (False, True):
        reg = CollectorRegistry(auto_describe=False)
        c = Counter("c", "c", ("k",), registry=reg).labels("x")
        h = Histogram("h", "h", ("k",), buckets=LATENCY_BUCKETS, registry=reg).labels("x")
        if kept:
            c, h = _Count(c), _Hist(h)
        for i, a in enumerate(amounts):
            c.inc(a)
            h.observe(a)
            if kept and i % 97 == 0:  # folds in between change nothing
                c.fold()
                h.fold()
        if kept:
            c.fold()
            h.fold()
        regs.append(generate_latest(reg))
    assert regs[0] == regs[1]


def test_a_negative_increment_is_refused_as_before() -> None:
    reg = CollectorRegistry(auto_describe=False)
    c = _Count(Counter("c", "c", ("k",), registry=reg).labels("x"))
    try:
        c.inc(-1)
    except ValueError:
        pass
    else:
        raise AssertionError("a negative increment was accepted")


async def test_every_read_folds_first() -> None:
    m = Metrics(MetricsSettings(), ["gpt-test"], deployment_names=["dep"])

    def value(samples: list, name: str, **labels: str) -> float:
        return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())

    m.request_started()
    m.attempt_finished("mock", "dep", 200)
    m.attempt_finished("mock", "dep", 503)
    m.observe_queue_wait("dep", 0.02)
    samples = await m.samples()
    assert value(samples, "llm_upstream_requests_total", status_class="2xx") == 1
    assert value(samples, "llm_upstream_requests_total", status_class="5xx") == 1
    assert value(samples, "provider_errors_total", kind="server_error") == 1
    assert value(samples, "queue_wait_seconds_bucket", le="0.025") == 1
    assert value(samples, "queue_wait_seconds_bucket", le="0.01") == 0
    assert value(samples, "queue_wait_seconds_sum") == 0.02
    assert value(samples, "http_requests_in_flight") == 1
    m.attempt_finished("mock", "dep", 200)
    text = (await m.exposition()).decode()
    assert (
        'llm_upstream_requests_total{deployment="dep",provider="mock",status_class="2xx"} 2.0'
        in text
    )
    assert "http_requests_in_flight 1.0" in text
