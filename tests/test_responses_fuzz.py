"""Fuzzing POST /v1/responses against the running gateway (real mock upstreams behind it):
whatever the body, the answer is never a 5xx and never carries a traceback."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.mock_providers import MockAnthropic, MockCohere
from tests.test_responses_api import WEATHER, config

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("input_text"), "text": st.text(max_size=30)}),
    st.fixed_dictionaries(
        {
            "type": st.just("input_image"),
            "image_url": st.sampled_from(["data:image/png;base64,AA==", 7]),
        }
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["output_text", "input_file", "x"]), "text": JSON}
    ),
)
ITEM = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "developer", "tool", ""]),
            "content": st.one_of(st.text(max_size=30), st.lists(PART, max_size=3), JSON),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call"),
            "call_id": st.one_of(st.text(max_size=8), JSON),
            "name": st.sampled_from(["get_weather", "", None]),
            "arguments": st.one_of(st.just('{"location":"x"}'), JSON),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["function_call_output", "reasoning", "web_search_call", "?"]),
            "call_id": st.text(max_size=8),
            "output": st.one_of(st.text(max_size=20), JSON),
        }
    ),
    JSON,
)
FIELDS: dict[str, Any] = {
    "model": st.sampled_from(["gpt-r", "claude-text", "command-text", "nope", "", None, 3]),
    "input": st.one_of(st.text(max_size=40), st.lists(ITEM, max_size=4), JSON),
    "instructions": st.one_of(st.text(max_size=20), JSON),
    "tools": st.one_of(st.just([WEATHER]), st.just([{"type": "web_search"}]), JSON),
    "tool_choice": st.one_of(st.sampled_from(["auto", "none", "required", "any"]), JSON),
    "parallel_tool_calls": JSON,
    "text": st.one_of(
        st.just({"format": {"type": "json_object"}}),
        st.just({"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}),
        JSON,
    ),
    "reasoning": st.one_of(st.just({"effort": "low"}), JSON),
    "max_output_tokens": st.one_of(st.integers(-5, 100000), JSON),
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), JSON),
    "top_p": JSON,
    "metadata": st.one_of(
        st.dictionaries(st.text(max_size=70), st.text(max_size=10), max_size=3), JSON
    ),
    "user": JSON,
    "store": JSON,
    "previous_response_id": st.one_of(st.just("resp_nope"), st.text(max_size=12), JSON),
    "stream": st.one_of(st.booleans(), JSON),
    "include": JSON,
    "background": JSON,
}
BODY = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS),
    st.fixed_dictionaries(  # a valid core, so the other fields get past the first checks
        {"model": st.sampled_from(["gpt-r", "claude-text"]), "input": st.just("hi")},
        optional={k: v for k, v in FIELDS.items() if k not in ("model", "input")},
    ),
    JSON,
)


async def test_fuzz_post_responses(mock: Any, start_gateway: Any) -> None:
    claude, cohere = MockAnthropic(), MockCohere()
    await claude.start()
    await cohere.start()
    try:
        gw = await start_gateway(config(mock, claude, cohere))
        # The gateway runs on this event loop; hypothesis drives it from a thread.
        await asyncio.to_thread(_fuzz, gw.url)
    finally:
        await claude.stop()
        await cohere.stop()


def _post(url: str, body: Any) -> tuple[int, str]:
    req = urllib.request.Request(
        url + "/v1/responses",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _fuzz(url: str) -> None:
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=BODY)
    def post(body: Any) -> None:
        status, text = _post(url, body)
        assert status < 500, (status, text[:300])
        assert "Traceback" not in text
        if status >= 400:
            err = json.loads(text)["error"]
            assert set(err) == {"message", "type", "param", "code"}

    post()
