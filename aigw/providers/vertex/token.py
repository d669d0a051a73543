"""OAuth access tokens for Vertex AI, from google-auth: a service-account file
(`credentials_file`), or Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud's login, the metadata server).

One token per provider, cached and shared by every request. google-auth's calls block (a
file read, an HTTP call to the token endpoint), so they run in a worker thread, never on the
event loop, and one at a time: concurrent requests wait for the same refresh. The refresh
starts `margin` seconds before the token expires; until the token is really about to
expire, requests keep using it while the new one is fetched, so no request waits for a
refresh but the very first (and any after a long idle spell).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from aigw.types import GatewayError

log = logging.getLogger("aigw.providers")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
MARGIN = 300.0  # refresh this long before expiry (google-auth's own threshold is 225 s)
LAST_USE = 30.0  # a token is not sent when it has less than this left


class AccessTokens:
    def __init__(
        self,
        provider: str,
        credentials_file: str | None = None,
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.credentials_file = credentials_file
        self.margin = margin
        self.clock = clock
        self.refreshes = 0  # how many tokens were fetched (for tests and metrics)
        self._creds: Any = None
        self._transport: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh: asyncio.Task[str] | None = None

    async def token(self) -> str:
        now = self.clock()
        token = self._token
        if token is not None and now < self._expires_at - self.margin:
            return token  # the common case: no await, no lock
        task = self._refresh
        if task is None:
            task = self._refresh = asyncio.get_running_loop().create_task(self._fetch())
            task.add_done_callback(self._fetched)
        if token is not None and now < self._expires_at - LAST_USE:
            return token  # still good: the refresh runs meanwhile
        return await asyncio.shield(task)

    async def headers(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The Credentials seam (providers/base.py): a bearer token on every request."""
        return {"Authorization": f"Bearer {await self.token()}"}

    def rejected(self) -> None:
        """The upstream refused the token (revoked, or its key disabled): fetch a new one
        for the next request instead of sending this one until it expires."""
        self._token = None
        self._expires_at = 0.0

    def _fetched(self, task: asyncio.Task[str]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so a background refresh's failure is never "unretrieved"; a
            # waiting request gets it through its await, and the next request tries again.
            log.warning(
                "access token refresh failed",
                extra={
                    "event": "upstream_token_failed",
                    "provider": self.provider,
                    "error": type(task.exception()).__name__,
                },
            )

    async def _fetch(self) -> str:
        try:
            token, expiry = await asyncio.to_thread(self._refresh_blocking)
        except GatewayError:
            raise
        except Exception as e:
            # google-auth's message may quote the token endpoint's answer: it is logged
            # (above, by type) but not sent to clients.
            raise GatewayError(
                502,
                f"{self.provider}: cannot get an access token for the provider "
                f"({type(e).__name__}); check its credentials",
                "api_error",
                "upstream_auth_failed",
                retryable=True,
            ) from None
        self._token = token
        self._expires_at = expiry
        self.refreshes += 1
        return token

    def _refresh_blocking(self) -> tuple[str, float]:
        """In a worker thread: load the credentials once, then fetch a new token."""
        import google.auth
        import google.auth.transport.requests

        if self._creds is None:
            if self.credentials_file:
                creds = load_credentials_file(self.credentials_file)
            else:
                creds, _ = google.auth.default(scopes=list(SCOPES))
            self._creds = creds
            self._transport = google.auth.transport.requests.Request()
        creds = self._creds
        creds.refresh(self._transport)
        if not creds.token:
            raise RuntimeError("the token endpoint gave no access token")
        expiry = creds.expiry  # naive UTC, as google-auth keeps it
        if expiry is None:
            expires_at = self.clock() + 3600.0
        else:
            expires_at = expiry.replace(tzinfo=dt.UTC).timestamp()
        return str(creds.token), expires_at


def load_credentials_file(path: str) -> Any:
    """A service-account key file (or a gcloud user's authorized_user file), loaded with the
    loader of exactly that type, as google-auth advises for files from outside."""
    import json

    from google.oauth2 import credentials as user_credentials
    from google.oauth2 import service_account

    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    if kind == "authorized_user":
        return user_credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
    raise ValueError(f"unsupported credentials type {kind!r} (service_account, authorized_user)")
