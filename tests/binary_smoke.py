"""Smoke test of the one-file executable (`make test-binary`, after `make binary`).

Not collected by the normal suite (the build takes a while); `make test-binary` runs it by
name. It drives dist/aigw as a user would: `--version`; `serve` with a config pointing at a
mock upstream; one request through it with the openai SDK; the same request again, answered
from the cache; `bench --mock-upstream`; and SIGTERM, after which it must exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import yaml

from aigw import __version__
from aigw.bench.mock_upstream import MockOpenAI
from aigw.cli.bench import _cache_section

BINARY = Path(os.environ.get("AIGW_BINARY", Path(__file__).parent.parent / "dist" / "aigw"))


def bare_env(tmp: Path) -> dict[str, str]:
    """No Python anywhere to be found: an empty PATH, no virtualenv, no PYTHONPATH."""
    (tmp / "empty-bin").mkdir(exist_ok=True)
    return {"PATH": str(tmp / "empty-bin"), "HOME": str(tmp), "LANG": "C.UTF-8"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_binary_exists_and_prints_version(tmp_path: Path) -> None:
    assert BINARY.is_file(), f"{BINARY} missing: run `make binary` first"
    out = subprocess.run(
        [str(BINARY), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=bare_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"aigw {__version__}"


async def _wait_health(url: str, proc: asyncio.subprocess.Process, timeout: float) -> float:
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        while time.perf_counter() - t0 < timeout:
            assert proc.returncode is None, "aigw exited during start-up"
            try:
                async with s.get(url + "/health") as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"aigw did not answer /health within {timeout}s")


async def test_serve_proxy_cache_and_sigterm(tmp_path: Path) -> None:
    mock = MockOpenAI()
    await mock.start()
    port = free_port()
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "providers": {"mock": {"type": "openai", "base_url": mock.url, "api_key": "sk-up"}},
        "models": {"gpt-smoke": {"provider": "mock", "model": "upstream-model"}},
        "logging": {"level": "warning"},
        "data_dir": str(tmp_path / "data"),
        "auth": {"required": False},
        **_cache_section("exact-hit"),
    }
    (tmp_path / "aigw.yaml").write_text(yaml.safe_dump(cfg))
    proc = await asyncio.create_subprocess_exec(
        str(BINARY),
        "serve",
        "--config",
        str(tmp_path / "aigw.yaml"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=bare_env(tmp_path),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        startup = await _wait_health(url, proc, timeout=60)
        print(f"binary ready in {startup:.2f}s")
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-client", max_retries=0)
        msgs = [{"role": "user", "content": "smoke test"}]
        first = await client.chat.completions.with_raw_response.create(
            model="gpt-smoke", messages=msgs
        )
        assert first.parse().choices[0].message.content == mock.text
        assert mock.count == 1
        assert mock.calls[0]["body"]["model"] == "upstream-model"
        if cfg.get("cache"):  # the cache is part of this build: the same question is a hit
            second = await client.chat.completions.with_raw_response.create(
                model="gpt-smoke", messages=msgs
            )
            assert second.parse().choices[0].message.content == mock.text
            assert second.headers.get("x-aigw-cache") == "hit"
            assert mock.count == 1
        await client.close()
        # The console's files are in the executable: the sign-in page and its script.
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/ui/login") as r:
                assert r.status == 200 and "Admin console" in await r.text()
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            async with http.get(url + "/ui/static/app.js") as r:
                assert r.status == 200 and "AigwCharts" in await r.text()
            async with http.get(url + "/openapi.json") as r:
                assert r.status == 200 and (await r.json())["openapi"].startswith("3.1")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        await mock.stop()
    assert code == 0, err


def test_bench_with_mock_upstream_runs_from_the_binary(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [
            *(str(BINARY), "bench", "--mock-upstream", "--requests", "200", "--concurrency", "4"),
            *("--fail-on-errors", "--quiet", "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=bare_env(tmp_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    import orjson

    d = orjson.loads(out.read_bytes())
    assert d["ok"] == 200 and d["errors"] == {}
    assert d["gateway_overhead_ms"]["count"] == 200


async def test_google_providers_from_the_binary(tmp_path: Path) -> None:
    """Vertex AI from the one-file build: google-auth loads the service-account key, signs
    its assertion and fetches a token (from a loopback token endpoint) inside the binary;
    the Gemini API beside it."""
    from tests.mock_google import GEMINI_KEY, MockGemini, MockVertex, TokenServer

    tokens = TokenServer()
    await tokens.start()
    vertex = MockVertex(tokens=tokens)
    gemini = MockGemini()
    await vertex.start()
    await gemini.start()
    port = free_port()
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "providers": {
            "vx": {
                "type": "vertex",
                "project": "my-project",
                "location": "us-central1",
                "credentials_file": str(tokens.service_account(tmp_path)),
                "base_url": vertex.url,
            },
            "gm": {"type": "gemini", "api_key": GEMINI_KEY, "base_url": gemini.url},
        },
        "models": {
            "on-vertex": {"provider": "vx", "model": "gemini-text"},
            "on-gemini": {"provider": "gm", "model": "gemini-text"},
        },
        "logging": {"level": "warning"},
        "data_dir": str(tmp_path / "data"),
        "auth": {"required": False},
    }
    (tmp_path / "aigw.yaml").write_text(yaml.safe_dump(cfg))
    proc = await asyncio.create_subprocess_exec(
        *(str(BINARY), "serve", "--config", str(tmp_path / "aigw.yaml")),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=bare_env(tmp_path),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_health(url, proc, timeout=60)
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-client", max_retries=0)
        for model in ("on-vertex", "on-gemini"):
            r = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "smoke test"}]
            )
            assert r.choices[0].message.content
        await client.close()
        assert tokens.requests == 1
        assert vertex.calls[0].headers["Authorization"].startswith("Bearer ya29.test-")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        await vertex.stop()
        await gemini.stop()
        await tokens.stop()
    assert code == 0, err


async def test_bedrock_signs_and_streams_from_the_binary(tmp_path: Path) -> None:
    """botocore as packed (its signer, credential chain and event-stream parser, with the
    service models left out): the mock recomputes each SigV4 signature and refuses a bad one,
    and the stream arrives in AWS's binary framing."""
    from tests.mock_bedrock import ACCESS_KEY, REGION, SECRET_KEY, SESSION_TOKEN, MockBedrock

    mock = MockBedrock(token=SESSION_TOKEN)
    await mock.start()
    port = free_port()
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "providers": {"br": {"type": "bedrock", "region": REGION, "base_url": mock.url}},
        "models": {
            "claude": {"provider": "br", "model": "anthropic.claude-3-5-haiku-20241022-v1:0"},
            "titan": {"provider": "br", "model": "amazon.titan-embed-text-v2:0"},
        },
        "logging": {"level": "warning"},
        "data_dir": str(tmp_path / "data"),
        "auth": {"required": False},
    }
    (tmp_path / "aigw.yaml").write_text(yaml.safe_dump(cfg))
    env = {
        **bare_env(tmp_path),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = await asyncio.create_subprocess_exec(
        *(str(BINARY), "serve", "--config", str(tmp_path / "aigw.yaml")),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_health(url, proc, timeout=60)
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-client", max_retries=0)
        msgs: Any = [{"role": "user", "content": "smoke test"}]
        r = await client.chat.completions.create(model="claude", messages=msgs)
        assert r.choices[0].message.content == "Hello! How can I help you today?"
        s = await client.chat.completions.create(model="claude", messages=msgs, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
        assert text == "Hello! How can I help you today?"
        e = await client.embeddings.create(model="titan", input="hello world")
        assert len(e.data[0].embedding) == 8
        assert len(mock.calls) == 3  # each one signed right (a bad signature is not recorded)
        await client.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        await mock.stop()
    assert code == 0, err
