"""SigV4 for bedrock-runtime, by botocore: its credential chain and its signer.

Credentials come from AWS's standard sources in botocore's order (environment
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, the shared config and
credentials files with `AWS_PROFILE` or the provider's `profile:`, SSO, assume-role, web
identity, container and instance metadata). They are resolved once, in a thread, at start-up
(the resolver reads files and may call the network); temporary credentials are refreshed,
again in a thread, once they are within botocore's advisory window of expiring. Signing
itself is a few HMACs over the request, done on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from aigw.types import GatewayError

log = logging.getLogger("aigw.providers")

SERVICE = "bedrock"  # the signing name of bedrock-runtime


class NoCredentials(Exception):
    pass


def resolve(profile: str | None) -> Credentials:
    """botocore's default credential chain (blocking: files, maybe the network)."""
    import botocore.session

    session = botocore.session.Session(profile=profile)
    creds = session.get_credentials()
    if creds is None:
        raise NoCredentials(
            "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE / the provider's `profile:` naming a profile in ~/.aws)"
        )
    return creds


class SigV4Signer:
    """A provider's `Credentials` (providers/base.py): adds X-Amz-Date, X-Amz-Security-Token
    (temporary credentials) and Authorization to each request, signed over its exact body.

    Made by the HTTP client as it starts, on the event loop: the credential chain starts
    resolving in a thread right then; the first request waits for it if it has not
    finished. Credentials that cannot be found fail every request to this provider with a
    retryable 502 (another deployment may answer), and are logged once."""

    __slots__ = ("_creds", "_frozen", "_lock", "_ready", "_resolver", "profile", "region")

    def __init__(
        self,
        region: str,
        profile: str | None = None,
        resolver: Callable[[str | None], Credentials] = resolve,
    ) -> None:
        self.region = region
        self.profile = profile
        self._resolver = resolver  # botocore's chain; a test may hand in its own
        self._creds: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.ensure_future(asyncio.to_thread(self._resolve))
        self._ready.add_done_callback(_log_failure)

    def _resolve(self) -> None:
        self._creds = creds = self._resolver(self.profile)
        self._frozen = creds.get_frozen_credentials()

    async def _current(self) -> ReadOnlyCredentials:
        if not self._ready.done():
            await asyncio.wait([self._ready])  # without cancelling it, or raising its error
        if self._ready.exception() is not None:
            raise no_credentials()
        creds, frozen = self._creds, self._frozen
        assert creds is not None and frozen is not None
        if isinstance(creds, RefreshableCredentials) and creds.refresh_needed():
            async with self._lock:  # one refresh, in a thread, for all who noticed
                if creds.refresh_needed():
                    self._frozen = await asyncio.to_thread(creds.get_frozen_credentials)
            frozen = self._frozen
            assert frozen is not None
        return frozen

    async def headers(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        return sign(await self._current(), self.region, url, headers, body)

    def rejected(self) -> None:
        """Nothing cached to drop: a refused signature means wrong keys or permissions, which
        no re-signing fixes; temporary credentials are refreshed by their own expiry."""


def _log_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("bedrock: %s", fut.exception())


def no_credentials() -> GatewayError:
    return GatewayError(
        502,
        "bedrock: the gateway has no AWS credentials for this provider",
        "api_error",
        "upstream_auth_failed",
        retryable=True,
    )


# The headers SigV4 adds; the rest of the request's headers are signed as they are sent.
ADDED = ("X-Amz-Date", "X-Amz-Security-Token", "Authorization")


def sign(creds: Any, region: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The SigV4 headers for a POST of `body` to `url` (its path encoded as sent) that also
    carries `headers`."""
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(creds, SERVICE, region).add_auth(req)
    return {k: req.headers[k] for k in ADDED if k in req.headers}
