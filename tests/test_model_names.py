"""Client-chosen model names leave bounded state (issue 13, item 3): 5,000 random
`<provider>/<model>` names through a real `aigw serve`, most refused by the upstream, leave
/metrics, the deployment state and the process's RSS bounded."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.procs import ServeProcess

MAX_LABELS = 10
MAX_DIRECT = 20


class PickyUpstream(MockOpenAI):
    """Answers models named `ok-*` (and the configured ones); 404 for any other, as OpenAI does."""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        model = orjson.loads(await request.read()).get("model", "")
        if model.startswith("bad-"):
            err = {
                "error": {
                    "message": f"The model `{model}` does not exist",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                }
            }
            return web.json_response(err, status=404)
        return await super().chat(request)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


async def test_random_model_names_leave_bounded_state(tmp_path: Path) -> None:
    up = PickyUpstream(quiet_calls=True)
    await up.start()
    cfg = mock_config(
        up.url,
        routing={"max_direct_models": MAX_DIRECT},
        observability={"metrics": {"max_models": MAX_LABELS}},
    )
    srv = ServeProcess(cfg, tmp_path, env={"AIGW_ADMIN_KEY": "adm-test-0123456789"})
    await srv.ready()
    rng = random.Random(13)
    admin = {"Authorization": "Bearer adm-test-0123456789"}

    async def run(names: list[str], s: aiohttp.ClientSession) -> list[int]:
        statuses: list[int] = []
        queue = list(names)

        async def worker() -> None:
            while queue:
                body = {"model": queue.pop(), "messages": [{"role": "user", "content": "hi"}]}
                async with s.post(srv.url + "/v1/chat/completions", json=body) as r:
                    await r.read()
                    statuses.append(r.status)

        await asyncio.gather(*(worker() for _ in range(16)))
        return statuses

    def names(n: int) -> list[str]:
        # four in five refused by the upstream; every name new
        return [
            f"mock/{'ok' if rng.random() < 0.2 else 'bad'}-{rng.getrandbits(64):016x}"
            for _ in range(n)
        ]

    try:
        async with aiohttp.ClientSession() as s:
            await run(names(500), s)  # warm up: allocator arenas, label caches
            async with s.get(srv.url + "/metrics") as r:
                lines_before = (await r.text()).count("\n")
            rss_before = rss_mb(srv.proc.pid)
            statuses = await run(names(5000), s)
            assert statuses.count(200) > 500 and statuses.count(404) > 3000
            assert not [x for x in statuses if x >= 500]
            async with s.get(srv.url + "/metrics") as r:
                text = await r.text()
            async with s.get(srv.url + "/v1/admin/deployments", headers=admin) as r:
                deployments = (await r.json())["data"]
            rss_after = rss_mb(srv.proc.pid)
    finally:
        await srv.stop()
        await up.stop()

    assert "bad-" not in text  # names the upstream refused never become labels
    labelled = set(re.findall(r'"mock/(ok-[0-9a-f]+)"', text))
    assert 0 < len(labelled) <= MAX_LABELS
    assert text.count("\n") < lines_before + 200, (lines_before, text.count("\n"))
    assert 'model="other"' in text
    # deployment state: the configured two, plus at most MAX_DIRECT recent ad-hoc names
    adhoc = [d["id"] for d in deployments if d["id"].startswith("mock/ok-")]
    assert len(deployments) <= 2 + MAX_DIRECT
    assert not [d for d in deployments if "bad-" in d["id"]]
    assert len(adhoc) <= MAX_DIRECT
    assert rss_after - rss_before < 25, f"RSS grew {rss_after - rss_before:.1f} MB"
