"""The one HTTP client: a pooled aiohttp session per upstream, created at start-up."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from aigw.config import ProviderConfig
from aigw.providers.base import UpstreamRequest
from aigw.types import GatewayError


class UpstreamClient:
    def __init__(self, providers: dict[str, ProviderConfig]) -> None:
        self._providers = providers
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self.observer: Any = None  # aigw.observability.upstream.UpstreamObserver

    async def start(self) -> None:
        for name, conf in self._providers.items():
            connector = aiohttp.TCPConnector(
                limit=conf.max_connections,
                limit_per_host=conf.max_connections,
                ttl_dns_cache=300,
                keepalive_timeout=60,
                enable_cleanup_closed=True,
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=conf.connect_timeout, sock_read=conf.timeout
                ),
                json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for s in sessions.values():
            await s.close()

    def session(self, provider: str) -> aiohttp.ClientSession:
        return self._sessions[provider]

    async def open(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        if self.observer is not None:  # observability: per-attempt metrics, span, traceparent
            return await self.observer.attempt(conf, req, extra_headers, self._open)
        return await self._open(conf, req, extra_headers)

    async def _open(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send the request and return the response with its headers read; the caller reads
        (or streams) the body and releases it. Transport failures become retryable
        GatewayErrors (502 connect/reset, 504 timeout)."""
        headers = req.headers
        if extra_headers:
            headers = {**headers, **extra_headers}
        try:
            return await self._sessions[conf.name].post(
                conf.base_url + req.path,
                data=orjson.dumps(req.body),
                headers=headers,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise upstream_timeout(conf.name) from None
        except aiohttp.ClientError as e:
            raise upstream_unreachable(conf.name, e) from None

    async def post(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        resp = await self.open(conf, req, extra_headers)
        try:
            body = await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise upstream_timeout(conf.name) from None
        except aiohttp.ClientError as e:
            raise upstream_unreachable(conf.name, e) from None
        finally:
            resp.release()
        return resp.status, dict(resp.headers), body


def upstream_timeout(provider: str) -> GatewayError:
    return GatewayError(
        504, f"{provider}: upstream timed out", "api_error", "upstream_timeout", retryable=True
    )


def upstream_unreachable(provider: str, e: Exception) -> GatewayError:
    # The exception text names the host, never a key; keep it short.
    kind = type(e).__name__
    return GatewayError(
        502,
        f"{provider}: upstream unreachable ({kind})",
        "api_error",
        "upstream_unreachable",
        retryable=True,
    )


def headers_dict(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    return {k.lower(): v for k, v in resp.headers.items()}
