"""One ordered list of components (server/gateway.py) and one writer (server/writer.py)."""

from __future__ import annotations

from typing import Any

from aigw import config as configmod
from aigw.cache.stage import CacheStage
from aigw.component import Component
from aigw.limits.stage import RateLimitStage
from aigw.observability.stage import ObservabilityStage
from aigw.server.gateway import Gateway
from tests.conftest import mock_config


def _config(tmp_path: Any, **extra: Any) -> configmod.Config:
    cfg = mock_config(
        "http://127.0.0.1:9",
        data_dir=str(tmp_path),
        cache={"enabled": True},
        rate_limiting={"enabled": True, "key": {"requests_per_minute": 100}},
        **extra,
    )
    return configmod.from_dict(cfg)


def test_stages_follow_the_one_list(tmp_path: Any) -> None:
    gw = Gateway(_config(tmp_path))
    assert all(isinstance(p, Component) for p in gw.parts)
    assert gw.parts[0] is gw.accounts  # the store opens first and closes last
    kinds = [type(s).__name__ for s in gw.stages]
    assert kinds == [
        "ObservabilityStage",
        "AuthStage",
        "UsageRecorder",
        "RateLimitStage",
        "BudgetStage",
        "CacheStage",
    ]
    assert isinstance(gw.stages[0], ObservabilityStage)
    assert isinstance(gw.limits, RateLimitStage) and isinstance(gw.cache, CacheStage)


def test_gauges_come_from_the_parts_not_their_names(tmp_path: Any) -> None:
    gw = Gateway(_config(tmp_path))
    metrics = gw.observability.metrics
    assert metrics is not None
    names = set(metrics._sources)
    assert {"cache_entries", "cache_bytes", "deployment_in_flight", "usage_store_up"} <= names
    # A component under another attribute name still reports: the gateway does not look it up.
    gw2 = Gateway(_config(tmp_path / "b"))
    gw2.renamed, gw2.cache = gw2.cache, None  # type: ignore[attr-defined]
    gw2.observability.metrics._sources.clear()  # type: ignore[union-attr]
    gw2.observability.watch(gw2.parts)
    assert "cache_entries" in gw2.observability.metrics._sources  # type: ignore[union-attr]


async def test_start_in_order_stop_in_reverse(tmp_path: Any) -> None:
    gw = Gateway(_config(tmp_path))
    seen: list[str] = []

    class Probe(Component):
        def __init__(self, name: str) -> None:
            self.name = name

        async def start(self) -> None:
            seen.append("start " + self.name)

        async def stop(self) -> None:
            seen.append("stop " + self.name)

    gw.parts = [Probe("a"), Probe("b"), Probe("c")]
    await gw.start()
    await gw.stop()
    assert seen == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_messages_errors_keep_anthropic_shape_for_http_errors(start_gateway: Any) -> None:
    """The middleware writes a route's errors in the route's framing, a 413 included."""
    running = await start_gateway(
        mock_config("http://127.0.0.1:9", server={"max_body_bytes": 1024})
    )
    r = await running.http.post(
        running.url + "/v1/messages",
        data=b'{"model": "x", "pad": "' + b"a" * 4096 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    body = await r.json()
    assert r.status == 413
    assert body["type"] == "error" and body["error"]["type"] == "request_too_large"
    assert r.headers["request-id"] == r.headers["X-Request-ID"]
    r = await running.http.post(running.url + "/v1/chat/completions", data=b"a" * 4096)
    body = await r.json()
    assert r.status == 413 and body["error"]["code"] == "request_too_large"
