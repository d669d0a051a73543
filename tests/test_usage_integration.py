"""The accounts stages with their neighbours: cache hits record what they saved, a key's
rate-limit overrides reach the limiter, JWKS from a URL, and a real `aigw serve` SIGTERM
that writes every record before exiting."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import jwt
import openai
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from aigw.cli import _register
from aigw.cli import app as cli_app
from tests.conftest import mock_config
from tests.helpers_accounts import *  # noqa: F403  (fixtures: admin, stores)
from tests.helpers_accounts import accounts_config, new_key
from tests.procs import ServeProcess

_register()
MSGS = [{"role": "user", "content": "what is the capital of france"}]
PRICES = {"gpt-test": {"input": 2.0, "output": 8.0}}


async def test_cache_hit_records_its_saving(
    mock: Any, start_gateway: Any, tmp_path: Path, admin: dict[str, str]
) -> None:
    cfg = accounts_config(
        mock.url,
        f"sqlite:///{tmp_path}/s.db",
        billing={"prices": PRICES},
        cache={"enabled": True, "semantic": {"enabled": False}},
    )
    gw = await start_gateway(cfg)
    k = await new_key(gw, admin)
    client = gw.openai(k["key"])
    first = await client.chat.completions.create(
        model="gpt-test", messages=MSGS, extra_headers={"X-Request-ID": "miss-1"}
    )
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=MSGS, extra_headers={"X-Request-ID": "hit-1"}
    )
    assert raw.headers["x-aigw-cache"] == "hit" and mock.count == 1
    store = gw.gateway.accounts.store
    assert await gw.gateway.accounts.usage.flush()
    (miss,) = await store.usage_rows("miss-1")
    (hit,) = await store.usage_rows("hit-1")
    price = (first.usage.prompt_tokens * 2.0 + first.usage.completion_tokens * 8.0) / 1e6
    assert miss["cost_usd"] == pytest.approx(price) and miss["saved_usd"] == 0
    assert hit["cache"] == "hit" and hit["cost_usd"] == 0
    assert hit["saved_usd"] == pytest.approx(price)
    async with gw.http.get(
        gw.url + "/v1/usage/costs", headers={"Authorization": f"Bearer {k['key']}"}
    ) as r:
        totals = (await r.json())["totals"]
    assert totals["saved_usd"] == pytest.approx(price) and totals["requests"] == 2


async def test_key_limits_reach_the_rate_limiter(
    mock: Any, start_gateway: Any, tmp_path: Path, admin: dict[str, str]
) -> None:
    gw = await start_gateway(accounts_config(mock.url, f"sqlite:///{tmp_path}/s.db"))
    k = await new_key(gw, admin, limits={"requests_per_minute": 2})
    client = gw.openai(k["key"])
    for _ in range(2):
        await client.chat.completions.create(model="gpt-test", messages=MSGS)
    with pytest.raises(openai.RateLimitError) as ei:
        await client.chat.completions.create(model="gpt-test", messages=MSGS)
    assert ei.value.code == "rate_limit_exceeded"
    other = await new_key(gw, admin)  # no override: not limited
    for _ in range(3):
        await gw.openai(other["key"]).chat.completions.create(model="gpt-test", messages=MSGS)


async def test_jwks_url(mock: Any, start_gateway: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**jwk, "kid": "idp-1", "alg": "RS256", "use": "sig"}]}

    async def serve_jwks(_: web.Request) -> web.Response:
        return web.json_response(jwks)

    idp = web.Application()
    idp.router.add_get("/jwks.json", serve_jwks)
    runner = web.AppRunner(idp)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        gw = await start_gateway(
            mock_config(
                mock.url,
                auth={
                    "required": True,
                    "jwt": {"jwks_url": f"http://127.0.0.1:{port}/jwks.json", "audience": "aigw"},
                },
            )
        )
        claims = {"org": "acme", "sub": "u1", "aud": "aigw", "exp": int(time.time()) + 60}
        tok = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "idp-1"})
        out = await gw.openai(tok).chat.completions.create(model="gpt-test", messages=MSGS)
        assert out.choices[0].message.content
        forged = jwt.encode(
            claims,
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
            headers={"kid": "idp-1"},
        )
        with pytest.raises(openai.AuthenticationError):
            await gw.openai(forged).chat.completions.create(model="gpt-test", messages=MSGS)
    finally:
        await runner.cleanup()


async def test_sigterm_writes_every_record(mock: Any, tmp_path: Path) -> None:
    db = tmp_path / "data" / "aigw.db"
    cfg = mock_config(mock.url, auth={"required": True}, data_dir=str(tmp_path / "data"))
    cfg_path = tmp_path / "keys.yaml"
    cfg_path.write_text(json.dumps(cfg))  # JSON is YAML
    r = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["keys", "create", "--org", "acme", "-c", str(cfg_path)]
    )
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    srv = ServeProcess(cfg, tmp_path)
    try:
        await srv.ready()
        client = openai.AsyncOpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0)
        for i in range(20):
            await client.chat.completions.create(
                model="gpt-test", messages=MSGS, extra_headers={"X-Request-ID": f"t-{i}"}
            )
        await client.close()
    finally:
        assert await srv.stop() == 0  # SIGTERM, drain, flush
    rows = sqlite3.connect(db).execute("SELECT request_id FROM usage_records").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"t-{i}" for i in range(20))


async def test_an_exact_hit_still_passes_every_stage(
    mock: Any, start_gateway: Any, tmp_path: Path, admin: dict[str, str]
) -> None:
    """A hit is answered before the upstream, not before the gateway: it is authenticated
    (a revoked key is refused although its answer is cached), rate-limited (it spends a
    request; its token reservation is refunded), recorded in usage and in the metrics, kept
    to its organisation, and skipped with Cache-Control: no-cache."""
    from tests.helpers_observability import scrape

    cfg = accounts_config(
        mock.url,
        f"sqlite:///{tmp_path}/s.db",
        cache={"enabled": True, "semantic": {"enabled": True}},
        rate_limiting={"enabled": True, "requests_per_minute": 100, "tokens_per_minute": 10**6},
    )
    gw = await start_gateway(cfg)
    a, b = await new_key(gw, admin), await new_key(gw, admin, org="globex")
    body = {"model": "gpt-test", "messages": MSGS, "temperature": 0}

    async def ask(key: str, rid: str, **headers: str) -> Any:
        return await gw.openai(key).chat.completions.with_raw_response.create(
            **body, extra_headers={"X-Request-ID": rid, **headers}
        )

    miss = await ask(a["key"], "m1")
    hit = await ask(a["key"], "h1")
    assert miss.headers["x-aigw-cache"] == "miss" and hit.headers["x-aigw-cache"] == "hit"
    assert mock.count == 1
    # Rate limits: the hit spent one request, and its tokens came back.
    left = int(miss.headers["x-ratelimit-remaining-requests"])
    assert int(hit.headers["x-ratelimit-remaining-requests"]) == left - 1
    hit2 = await ask(a["key"], "h2")
    assert int(hit2.headers["x-ratelimit-remaining-tokens"]) >= int(
        hit.headers["x-ratelimit-remaining-tokens"]
    )
    # Another organisation never gets this one's answer.
    assert (await ask(b["key"], "o1")).headers["x-aigw-cache"] == "miss" and mock.count == 2
    # Cache-Control: no-cache goes upstream.
    nc = await ask(a["key"], "n1", **{"Cache-Control": "no-cache"})
    assert nc.headers["x-aigw-cache"] == "bypass" and mock.count == 3
    # Usage: every hit is a record, priced as a hit.
    assert await gw.gateway.accounts.usage.flush()
    store = gw.gateway.accounts.store
    for rid in ("h1", "h2"):
        (row,) = await store.usage_rows(rid)
        assert row["cache"] == "hit" and row["key_id"] == a["id"] and row["status"] == 200
        assert row["prompt_tokens"] > 0 and row["cost_usd"] == 0
    # Metrics: the hits are counted.
    s = await scrape(gw.http, gw.url, gw.gateway)
    assert s.value("cache_hit_total", model="gpt-test", kind="exact") == 2
    # A revoked key is refused, cached answer or not.
    async with gw.http.delete(gw.url + f"/v1/admin/api-keys/{a['id']}", headers=admin) as r:
        assert r.status == 200
    with pytest.raises(openai.AuthenticationError):
        await ask(a["key"], "r1")
    assert mock.count == 3
