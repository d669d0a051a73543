"""A mock Azure OpenAI resource: a real aiohttp server on loopback that checks what it
receives the way Azure does (the URL style, `api-version`, the `api-key` header or an Entra
ID bearer token, the deployment) and answers with Azure's recorded shapes (tests/fixtures/
azure/: content-filter annotations in answers and streams, Azure's error bodies).

Deployments pick the scenario: `gpt4o-prod` answers text (or calls `get_weather` when
offered tools), `gpt4o-filtered` refuses the prompt (400 content_filter), `gpt4o-cut` has
its output filtered, `gpt4o-throttled` answers 429 with Retry-After, `embed-prod` embeds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.mock_providers import UPSTREAM_KEY, fixture

# The GA and preview versions a resource answers; others are Azure's 404.
API_VERSIONS = {"2024-06-01", "2024-10-21", "2025-01-01-preview", "2025-04-01-preview"}
DEPLOYMENTS = {"gpt4o-prod", "gpt4o-filtered", "gpt4o-cut", "gpt4o-throttled", "embed-prod"}
AD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-test-token.sig"


@dataclass
class AzureCall:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class MockAzure:
    key: str = UPSTREAM_KEY
    token: str = AD_TOKEN
    chunk_size: int = 41
    calls: list[AzureCall] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/openai/deployments/{deployment}/{op:.+}", self.deployment_style)
        app.router.add_post("/openai/v1/{op:.+}", self.v1_style)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def file(self, name: str, status: int = 200, headers: dict[str, str] | None = None) -> Any:
        return web.Response(
            status=status,
            body=fixture("azure", name),
            content_type="application/json",
            headers=headers,
        )

    async def _read(self, request: web.Request) -> dict[str, Any]:
        body = orjson.loads(await request.read())
        self.calls.append(AzureCall(request.path, dict(request.query), dict(request.headers), body))
        return body

    def _auth(self, request: web.Request) -> web.Response | None:
        bearer = request.headers.get("Authorization")
        if bearer is not None:
            return (
                None
                if bearer == f"Bearer {self.token}"
                else self.file("error_token_invalid.json", 401)
            )
        if request.headers.get("api-key") != self.key:
            return self.file("error_access_denied.json", 401)
        return None

    async def deployment_style(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        version = request.query.get("api-version")
        if version not in API_VERSIONS:
            return self.file("error_resource_not_found.json", 404)
        denied = self._auth(request)
        if denied is not None:
            return denied
        return await self._answer(request, request.match_info["deployment"], body, version)

    async def v1_style(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if "api-version" in request.query and request.query["api-version"] != "preview":
            return self.file("error_resource_not_found.json", 404)
        denied = self._auth(request)
        if denied is not None:
            return denied
        return await self._answer(request, str(body.get("model")), body, None)

    async def _answer(
        self, request: web.Request, deployment: str, body: dict[str, Any], version: str | None
    ) -> web.StreamResponse:
        op = request.match_info["op"]
        if deployment not in DEPLOYMENTS:
            return self.file("error_deployment_not_found.json", 404)
        if op == "embeddings":
            if deployment != "embed-prod" or not body.get("input"):
                return self.file("error_resource_not_found.json", 404)
            return self.file("embeddings.json")
        if op != "chat/completions" or deployment == "embed-prod":
            return self.file("error_resource_not_found.json", 404)
        if "stream_options" in body and version is not None and version < "2024-09-01":
            return self.file("error_unrecognized_stream_options.json", 400)
        if deployment == "gpt4o-throttled":
            return self.file("error_rate_limit.json", 429, {"retry-after": "6"})
        if deployment == "gpt4o-filtered":
            return self.file("error_content_filter.json", 400)
        if deployment == "gpt4o-cut":
            name = "output_filtered"
        elif body.get("tools") and body["messages"][-1].get("role") != "tool":
            name = "tool_call"
        else:
            name = "chat"
        if not body.get("stream"):
            return self.file(f"{name}.json")
        if name == "chat" and not (body.get("stream_options") or {}).get("include_usage"):
            name = "chat_no_usage"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        raw = fixture("azure", f"{name}.sse")
        for i in range(0, len(raw), self.chunk_size):
            await resp.write(raw[i : i + self.chunk_size])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp
