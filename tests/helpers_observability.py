"""Reading a Prometheus scrape in tests: exact sample values by name and labels."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, s.labels, s.value) for f in self.families for s in f.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called `name` whose labels include `labels` (0 when none)."""
        return sum(
            v
            for n, lab, v in self.samples
            if n == name and all(lab.get(k) == want for k, want in labels.items())
        )

    def series(self, name: str) -> list[dict[str, str]]:
        return [lab for n, lab, _ in self.samples if n == name]

    def names(self) -> set[str]:
        """Every name a PromQL query may use: families and their sample suffixes."""
        out: set[str] = set()
        for f in self.families:
            out.add(f.name)
            if f.type == "counter":
                out.add(f.name + "_total")
            elif f.type == "histogram":
                out.update(f.name + s for s in ("_bucket", "_sum", "_count"))
        out.update(n for n, _, _ in self.samples)
        return out


async def finished(gw: Any) -> None:
    """Wait for the finish callbacks the gateway runs after each answer (metrics included)."""
    while gw._background:
        await asyncio.gather(*gw._background, return_exceptions=True)


async def scrape(http: aiohttp.ClientSession, url: str, gw: Any = None, **kw: Any) -> Scrape:
    if gw is not None:
        await finished(gw)
    async with http.get(url + "/metrics", **kw) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
        return Scrape(await r.text())
