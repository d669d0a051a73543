"""The README's "try it without provider keys" path, run as written: `make try` and the curl
(two commands), the four-command path with the default auth and `OPENAI_BASE_URL`, `aigw
mock` read by the official SDKs, and the 404 of a gateway with no provider at all."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import anthropic
import openai
import orjson

from aigw.bench.mock_upstream import DEFAULT_TEXT
from tests.procs import ServeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    return README[start : README.index("\n## ", start + 1)]


def _commands(block: str) -> list[str]:
    """Shell commands of a ```sh block: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [c.split("  #")[0].strip() for c in joined.splitlines() if c.strip()]


def _sh_blocks(text: str) -> list[list[str]]:
    return [_commands(b) for b in re.findall(r"```sh\n(.*?)```", text, re.S)]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIGW_", "OPENAI_", "ANTHROPIC_", "COHERE_"))
    }
    return {**keep, "AIGW_DATA_DIR": str(tmp / "data"), **extra}


async def _healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a starting process on a loaded machine
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                async with s.get(url + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # polling a starting process, bounded by the deadline
    raise TimeoutError(log.read_text())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: make, the mock and aigw
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _curl(command: str, port: int, **env: str) -> dict:  # type: ignore[type-arg]
    """The README's curl, run by a shell (it expands $AIGW_KEY), on the test's port."""
    line = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    out = subprocess.run(
        ["sh", "-c", line], capture_output=True, check=True, timeout=60, env={**os.environ, **env}
    ).stdout
    return orjson.loads(out)


async def test_make_try_then_curl_is_the_first_answer(tmp_path: Path) -> None:
    (try_block,) = [
        b for b in _sh_blocks(_section("Try it without provider keys")) if b[0] == "make try"
    ]
    assert len(try_block) == 2  # two commands, as promised
    make, curl = try_block
    port, mock_port = free_port(), free_port()
    log = tmp_path / "make-try.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *shlex.split(make),
                f"PORT={port}",
                f"MOCK_PORT={mock_port}",
                f"VENV={BIN.parent}",
                # This venv is installed already: never a pip run inside the test's deadline.
                "-o",
                f"{BIN.parent}/.installed",
            ],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await _healthy(f"http://127.0.0.1:{port}", proc, log)
        answer = await asyncio.to_thread(_curl, curl, port)
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["content"] == DEFAULT_TEXT
        # The other providers' shapes answer through the same gateway, streamed too.
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        text = ""
        async for chunk in await client.chat.completions.create(
            model="command-r", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
        assert text == DEFAULT_TEXT
        claude = anthropic.AsyncAnthropic(base_url=f"http://127.0.0.1:{port}", api_key="unused")
        msg = await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert msg.content[0].text == DEFAULT_TEXT  # type: ignore[union-attr]
        emb = await client.embeddings.create(model="text-embedding-3-small", input="hi")
        assert len(emb.data[0].embedding) > 0
    finally:
        _stop(proc)
    assert "AUTH IS OFF" in log.read_text()


async def test_the_default_auth_path_with_openai_base_url(tmp_path: Path) -> None:
    blocks = _sh_blocks(_section("Try it without provider keys"))
    (manual,) = [b for b in blocks if b[0].endswith("aigw mock &")]
    assert len(manual) == 4
    port, mock_port = free_port(), free_port()
    procs = []
    try:
        for line, args in (
            (manual[0], ["--port", str(mock_port)]),
            (manual[1], ["--port", str(port)]),
        ):
            words = shlex.split(
                line.rstrip("&").replace("127.0.0.1:9999", f"127.0.0.1:{mock_port}")
            )
            env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
            argv = [
                w.replace(".venv/bin/", f"{BIN}/")
                for w in words
                if w not in {f"{k}={v}" for k, v in env.items()}
            ]
            log = tmp_path / f"{argv[1]}.log"
            with open(log, "wb") as out:
                procs.append(
                    (
                        subprocess.Popen(
                            [*argv, *args],
                            cwd=tmp_path,
                            env=_env(tmp_path, **env),
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        ),
                        log,
                    )
                )
        await _healthy(f"http://127.0.0.1:{port}", *procs[1])
        create = shlex.split(manual[2].split("$(", 1)[1].rstrip(")"))
        create[0] = create[0].replace(".venv/bin/", f"{BIN}/")
        key = subprocess.run(
            create, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120
        ).stdout.strip()
        assert key.startswith("aigw_")
        answer = await asyncio.to_thread(_curl, manual[3], port, AIGW_KEY=key)
        assert answer["choices"][0]["message"]["content"] == DEFAULT_TEXT, answer
        # The answer came from the mock that OPENAI_BASE_URL named.
        assert f"OPENAI_BASE_URL=http://127.0.0.1:{mock_port}/v1" in procs[0][1].read_text()
    finally:
        for p, _ in procs:
            _stop(p)


async def test_aigw_mock_speaks_each_providers_format(tmp_path: Path) -> None:
    """The official SDKs read the mock directly: its shapes are the providers'."""
    port = free_port()
    log = tmp_path / "mock.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "aigw"), "mock", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as s:
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    async with s.get(url + "/v1/models") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    assert time.monotonic() < deadline, log.read_text()
                    await asyncio.sleep(0.05)  # polling a starting process, bounded
            # Cohere's v2 chat stream, as its documentation shows it.
            async with s.post(
                url + "/v2/chat",
                json={
                    "model": "command-r",
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"Authorization": "Bearer x"},
            ) as r:
                events = re.findall(r"^event: (\S+)", await r.text(), re.M)
            assert events[0] == "message-start" and events[-1] == "message-end"
            async with s.post(url + "/v2/chat", json={"model": "command-r", "messages": []}) as r:
                assert r.status == 401  # like Cohere: no key, no answer
        claude = anthropic.AsyncAnthropic(base_url=url, api_key="any")
        async with claude.messages.stream(
            model="claude-x", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = await stream.get_final_message()
        assert final.content[0].text == DEFAULT_TEXT  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
        count = await claude.messages.count_tokens(
            model="claude-x", messages=[{"role": "user", "content": "hello there"}]
        )
        assert count.input_tokens > 0
        oai = openai.AsyncOpenAI(base_url=url + "/v1", api_key="any")
        chat = await oai.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}]
        )
        assert chat.choices[0].message.content == DEFAULT_TEXT
    finally:
        _stop(proc)
    assert f"OPENAI_BASE_URL={url}/v1" in log.read_text()


async def test_no_provider_404_says_how_to_add_one(tmp_path: Path) -> None:
    srv = ServeProcess({"auth": {"required": False}}, tmp_path, env=_env(tmp_path))
    try:
        await srv.ready()
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                srv.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            ) as r,
        ):
            assert r.status == 404
            err = (await r.json())["error"]
        assert err["code"] == "model_not_found" and err["param"] == "model"
        assert "no provider is configured" in err["message"]
        assert "OPENAI_API_KEY" in err["message"] and "config.example.yaml" in err["message"]
        assert "aigw mock" in err["message"]
    finally:
        await srv.stop()
    assert "no providers configured: set OPENAI_API_KEY" in srv.log()


FUZZ_PATHS = ["/v1/chat/completions", "/v1/embeddings", "/v1/messages",
              "/v1/messages/count_tokens", "/v2/chat", "/v2/embed"]  # fmt: skip


async def test_aigw_mock_fuzz_never_500() -> None:
    """Hypothesis bodies against every POST path of the mock's app on a real socket: a
    malformed request is a 400 in the provider's shape, never a 5xx or a traceback."""
    from aiohttp import web
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from aigw.cli.mock import mock_app

    runner = web.AppRunner(mock_app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
    fields = ["model", "messages", "stream", "max_tokens", "input", "texts", "system"]
    bodies = json_values | st.dictionaries(st.sampled_from(fields), json_values, max_size=5)
    seen: list[tuple[str, int, str]] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(FUZZ_PATHS), body=bodies, raw=st.booleans())
    def run(path: str, body: object, raw: bool) -> None:
        data = str(body).encode() if raw else orjson.dumps(body)
        headers = {"x-api-key": "k", "Authorization": "Bearer k"}
        seen.append(
            (path, *asyncio.run_coroutine_threadsafe(post(path, data, headers), loop).result())
        )

    async def post(path: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async with session.post(f"http://127.0.0.1:{port}{path}", data=data, headers=headers) as r:
            return r.status, await r.text()

    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.to_thread(run)
    finally:
        await runner.cleanup()
    assert len(seen) >= 100
    bad = [(p, s, t[:200]) for p, s, t in seen if s >= 500 or "Traceback" in t]
    assert not bad, bad[:5]
