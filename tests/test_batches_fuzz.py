"""Fuzzing the new POST endpoints against a running gateway (hypothesis): whatever arrives,
the answer is never a 5xx and never carries a traceback; and the input-file check never
raises, whatever the file holds."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigw.batches.validation import parse
from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.helpers_batches import batch_settings, chat_file, chat_line

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
batch_keys = st.sampled_from(
    ["input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after", "x"]
)
batch_bodies = st.dictionaries(
    batch_keys,
    json_values
    | st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "24h", "file-x", ""])
    | st.dictionaries(st.text(max_size=70), st.text(max_size=600), max_size=20),
    max_size=5,
)
ids = st.text(max_size=80)


class Http:
    """Blocking calls for hypothesis (in a thread), made by aiohttp on the test's loop."""

    def __init__(self, base: str, session: aiohttp.ClientSession, loop: Any) -> None:
        self.base, self.session, self.loop = base, session, loop

    def __call__(self, method: str, path: str, **kw: Any) -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            async with self.session.request(method, self.base + path, **kw) as r:
                return r.status, await r.text(errors="replace")

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body written by hand, so any file name reaches the server."""
    boundary = "aigw-fuzz-7f3a9c"
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode(
                "utf-8", "surrogateescape"
            )
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _ok(r: tuple[int, str]) -> None:
    status, text = r
    assert status < 500, (status, text[:300])
    assert "Traceback" not in text
    if status >= 400:
        err = orjson.loads(text)["error"]
        assert isinstance(err["message"], str) and "type" in err


async def test_fuzz_files_and_batches(mock: MockOpenAI, start_gateway: Any) -> None:
    gw = await start_gateway(mock_config(mock.url, batches=batch_settings(max_file_bytes=20_000)))
    client = gw.openai()
    good = await client.files.create(file=("in.jsonl", chat_file(2)), purpose="batch")

    http = Http(gw.url, gw.http, asyncio.get_running_loop())

    def fuzz() -> None:
        if True:

            @SETTINGS
            @given(body=batch_bodies, use_good=st.booleans())
            def create_batch(body: dict[str, Any], use_good: bool) -> None:
                if use_good:
                    body = {**body, "input_file_id": good.id}
                _ok(http("POST", "/v1/batches", json=body))

            @SETTINGS
            @given(raw=st.binary(max_size=200))
            def raw_bodies(raw: bytes) -> None:
                json_type = {"content-type": "application/json"}
                _ok(http("POST", "/v1/batches", data=raw, headers=json_type))
                _ok(http("POST", "/v1/files", data=raw))
                multipart = {"content-type": "multipart/form-data; boundary=xyz"}
                _ok(http("POST", "/v1/files", data=raw, headers=multipart))

            @SETTINGS
            @given(
                purpose=st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
                | st.just("batch"),
                name=st.text(
                    st.characters(
                        min_codepoint=32, exclude_characters='"\\', exclude_categories=("Cs",)
                    ),
                    max_size=300,
                ),
                content=st.binary(max_size=30_000),
                extra=st.dictionaries(
                    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10),
                    st.text(max_size=50),
                    max_size=10,
                ),
            )
            def upload(purpose: str, name: str, content: bytes, extra: dict[str, str]) -> None:
                parts = [(k, None, v.encode()) for k, v in {"purpose": purpose, **extra}.items()]
                parts.append(("file", name, content))
                body, ctype = _multipart(parts)
                _ok(http("POST", "/v1/files", data=body, headers={"content-type": ctype}))

            @SETTINGS
            @given(
                bid=ids,
                query=st.dictionaries(
                    st.sampled_from(["after", "limit", "order", "purpose"]),
                    st.text(max_size=20),
                    max_size=4,
                ),
            )
            def ids_and_queries(bid: str, query: dict[str, str]) -> None:
                from urllib.parse import quote

                _ok(http("POST", f"/v1/batches/{quote(bid, safe='')}/cancel"))
                _ok(http("GET", "/v1/batches", params=query))
                _ok(http("GET", "/v1/files", params=query))
                _ok(http("GET", f"/v1/files/{quote(bid, safe='')}/content"))

            create_batch()
            raw_bodies()
            upload()
            ids_and_queries()

    await asyncio.to_thread(fuzz)


lines = st.one_of(
    st.text(max_size=60),
    json_values.map(lambda v: orjson.dumps(v).decode()),
    st.builds(
        lambda cid, url, method: orjson.dumps(
            {**chat_line(cid), "url": url, "method": method}
        ).decode(),
        st.text(max_size=10),
        st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "x"]),
        st.sampled_from(["POST", "GET"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=20), st.binary(max_size=40))
def test_input_file_check_never_raises(file_lines: list[str], junk: bytes) -> None:
    content = "\n".join(file_lines).encode()
    for data in (content, junk, content + junk):
        p = parse(data, "/v1/chat/completions", 10)
        assert p.errors or p.lines  # an empty file is an error too
        assert len({ln.custom_id for ln in p.lines}) == len(p.lines)
        assert all(e["code"] and e["message"] for e in p.errors)
