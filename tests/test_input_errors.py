"""Client input that used to give a 500 gets a 400 in the OpenAI shape, with `param`, before
any upstream call (issue 13, item 6; /v1/messages bullets are in the messages tests)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from aigw.bench.mock_upstream import MockOpenAI
from tests.conftest import mock_config
from tests.helpers_accounts import accounts_config, admin, new_key  # noqa: F401  (fixture)

MSGS = [{"role": "user", "content": "hi"}]
SECRET = "s3cret-shared-between-idp-and-gateway-0123456789"
ISS, AUD = "https://idp.example", "aigw"


async def expect_400(gw: Any, method: str, path: str, param: str, **kw: Any) -> dict[str, Any]:
    async with gw.http.request(method, gw.url + path, **kw) as r:
        body = await r.json()
        assert r.status == 400, body
    assert body["error"]["param"] == param, body
    assert body["error"]["type"] == "invalid_request_error"
    return body


@pytest.mark.parametrize("opts", ["yes", ["include_usage"], 1, True])
async def test_stream_options_must_be_an_object(gw: Any, mock: MockOpenAI, opts: Any) -> None:
    body = {"model": "gpt-test", "messages": MSGS, "stream": True, "stream_options": opts}
    await expect_400(gw, "POST", "/v1/chat/completions", "stream_options", json=body)
    assert mock.count == 0


async def test_huge_max_tokens_with_a_budget_is_a_400(
    mock: MockOpenAI,
    start_gateway: Any,
    admin: dict[str, str],  # noqa: F811
    tmp_path: Any,
) -> None:
    gw = await start_gateway(accounts_config(mock.url, f"sqlite:///{tmp_path}/store.db"))
    key = (await new_key(gw, admin, budget={"usd_per_day": 5}))["key"]
    auth = {"Authorization": f"Bearer {key}"}
    for name, value in [
        ("max_tokens", 9223372036854775808),
        ("max_tokens", 2**63 - 1),
        ("max_completion_tokens", 10**30),
        ("max_tokens", -1),
        ("max_tokens", "100"),
        ("n", 10**20),
    ]:
        body = {"model": "gpt-test", "messages": MSGS, name: value}
        await expect_400(gw, "POST", "/v1/chat/completions", name, json=body, headers=auth)
    # the largest accepted values still pass (and reserve what a database integer holds)
    body = {"model": "gpt-test", "messages": MSGS, "max_tokens": 2**31 - 1, "n": 128}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=auth) as r:
        assert r.status in (200, 429), await r.text()  # 429: over the day's budget, not 500
    assert mock.count <= 1


@pytest.mark.parametrize(
    "query,param",
    [
        ("start=1e309", "start"),
        ("start=99999999999999999999", "start"),
        ("start=nan", "start"),
        ("since=-5", "start"),
        ("start=99999999999999d", "start"),
        ("end=9999-12-31", "end"),
        ("until=inf", "end"),
    ],
)
async def test_usage_times_out_of_range_are_400(
    mock: MockOpenAI,
    start_gateway: Any,
    admin: dict[str, str],  # noqa: F811
    tmp_path: Any,
    query: str,
    param: str,
) -> None:
    gw = await start_gateway(accounts_config(mock.url, f"sqlite:///{tmp_path}/store.db"))
    body = await expect_400(gw, "GET", "/v1/usage?" + query, param, headers=admin)
    assert "invalid time" in body["error"]["message"]


def token(**over: Any) -> str:
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "org": "acme", "exp": now + 300, "nbf": now - 5}
    c.update(over)
    return jwt.encode(c, SECRET)


async def test_jwt_claims_of_the_wrong_type(mock: MockOpenAI, start_gateway: Any) -> None:
    jwt_cfg = {"secret": SECRET, "issuer": ISS, "audience": AUD}
    gw = await start_gateway(mock_config(mock.url, auth={"required": True, "jwt": jwt_cfg}))
    body = {"model": "gpt-test", "messages": MSGS}

    async def call(tok: str, model: str = "gpt-test") -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {tok}"}
        async with gw.http.post(
            gw.url + "/v1/chat/completions", json={**body, "model": model}, headers=headers
        ) as r:
            return r.status, await r.json()

    for claims in [
        {"scope": 5},
        {"role": 7},
        {"role": {"admin": True}},
        {"scope": ["chat", 3]},
        {"models": 12},
        {"models": [{"a": 1}]},
    ]:
        status, out = await call(token(**claims))
        assert status == 401, (claims, out)
        assert out["error"]["code"] == "invalid_api_key"
        assert "must be a string or a list of strings" in out["error"]["message"]
    # a single model as a string restricts to that model, it never means "all"
    one = token(models="embed-test")
    status, out = await call(one)
    assert status == 403, out
    status, out = await call(token(models="gpt-test"))
    assert status == 200, out
    # a numeric role on the admin API: refused, not a 500
    async with gw.http.get(
        gw.url + "/v1/admin/users", headers={"Authorization": f"Bearer {token(role=1)}"}
    ) as r:
        assert r.status == 401
    assert mock.count == 1
