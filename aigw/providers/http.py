"""The one HTTP client: a pooled aiohttp session per upstream, created at start-up."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from aigw.component import Component
from aigw.providers import registry
from aigw.providers.base import Credentials, UpstreamRequest
from aigw.providers.http1 import Pool, Response, TransportError, UpstreamTimeout
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError


class UpstreamClient(Component):
    """A keep-alive connection pool per provider (aigw/providers/http1.py), opened at
    start-up; timeouts and the connection cap from the provider's config."""

    def __init__(self, providers: dict[str, ProviderConfig]) -> None:
        self._providers = providers
        self._pools: dict[str, Pool] = {}
        self._credentials: dict[str, Credentials] = {}  # only providers that need them
        self.observer: Any = None  # aigw.observability.upstream.UpstreamObserver

    async def start(self) -> None:
        for name, conf in self._providers.items():
            self._pools[name] = Pool(
                conf.base_url,
                limit=conf.max_connections,
                connect_timeout=conf.connect_timeout,
                read_timeout=conf.timeout,
                keepalive=conf.keepalive,
            )
            make = registry.spec(conf.type).credentials
            if make is not None:
                self._credentials[name] = make(conf)

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for p in pools.values():
            await p.close()

    stop = close

    async def open(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        if self.observer is not None:  # observability: per-attempt metrics, span, traceparent
            return await self.observer.attempt(conf, req, extra_headers, self._open)
        return await self._open(conf, req, extra_headers)

    async def _open(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        """Send the request and return the response with its headers read; the caller reads
        (or streams) the body and releases it. Transport failures become retryable
        GatewayErrors (502 connect/reset, 504 timeout)."""
        headers = req.headers
        if extra_headers:
            headers = {**headers, **extra_headers}
        pool = self._pools[conf.name]
        body = orjson.dumps(req.body)
        creds = self._credentials.get(conf.name) if self._credentials else None
        if creds is not None:  # signed or token-bearing: the headers come last
            url = pool.origin + pool.prefix + req.path
            headers = {**headers, **await creds.headers(url, headers, body)}
        try:
            resp = await pool.request(pool.prefix + req.path, headers, body)
        except TransportError as e:
            raise transport_error(conf.name, e) from None
        if resp.status == 401 and creds is not None:
            creds.rejected()  # a revoked token is not sent again until it would expire
        if 300 <= resp.status < 400:  # redirects are not followed: a POST must not wander
            resp.close()
            raise upstream_redirected(conf.name, resp.status, resp.headers.get("location"))
        return resp

    async def post(
        self,
        conf: ProviderConfig,
        req: UpstreamRequest,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        resp = await self.open(conf, req, extra_headers)
        try:
            body = await resp.read()
        except TransportError as e:
            raise transport_error(conf.name, e) from None
        finally:
            resp.release()
        return resp.status, resp.headers, body


def transport_error(provider: str, e: TransportError) -> GatewayError:
    """A failure below HTTP as a retryable error: 504 for a timeout, 502 otherwise."""
    if isinstance(e, UpstreamTimeout):
        return upstream_timeout(provider)
    return upstream_unreachable(provider, e)


def upstream_timeout(provider: str) -> GatewayError:
    return GatewayError(
        504, f"{provider}: upstream timed out", "api_error", "upstream_timeout", retryable=True
    )


def upstream_unreachable(provider: str, e: Exception) -> GatewayError:
    # The reason is short and names neither the upstream's host nor a key.
    kind = getattr(e, "reason", None) or type(e).__name__
    return GatewayError(
        502,
        f"{provider}: upstream unreachable ({kind})",
        "api_error",
        "upstream_unreachable",
        retryable=True,
    )


def upstream_redirected(provider: str, status: int, location: str | None) -> GatewayError:
    where = urlsplit(location or "")
    port = f":{where.port}" if where.port else ""
    # Scheme, host and path only: never a query or credentials the upstream put in it.
    to = f" to {where.scheme}://{where.hostname}{port}{where.path}" if where.hostname else ""
    return GatewayError(
        502,
        f"{provider}: upstream answered {status}{to}; set the provider's base_url to the "
        "address that answers",
        "api_error",
        "upstream_redirect",
    )
