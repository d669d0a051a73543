"""Console sign-in sessions: a random token in an HttpOnly, SameSite=Strict cookie; the store
keeps only its SHA-256 (every instance of a cluster shares the table). The CSRF token is an
HMAC of the session token, so it needs no storage and is worthless without the cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from aigw.auth.authenticator import forbidden
from aigw.store.base import Store, StoreUnavailable
from aigw.types import GatewayError, Principal
from aigw.ui.settings import UIConfig

COOKIE = "aigw_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY = 60.0  # write last_seen_at at most once a minute per session


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_of(token: str) -> str:
    return hmac.new(token.encode(), b"aigw-console-csrf", hashlib.sha256).hexdigest()


@dataclass(slots=True)
class Session:
    token: str
    actor: str  # who signed in: "admin_key:admin", "api_key:<key id>", "jwt:<user>"
    created_at: float
    expires_at: float

    @property
    def csrf(self) -> str:
        return csrf_of(self.token)


class Sessions:
    def __init__(
        self,
        store: Store,
        settings: UIConfig,
        key_is_admin: Callable[[str], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        # Sessions of an API key end when the key is revoked or loses its admin scope.
        self.key_is_admin = key_is_admin
        self.clock = clock

    async def create(self, actor: str) -> Session:
        now = self.clock()
        token = secrets.token_urlsafe(32)
        expires = now + self.settings.session_ttl
        await self.store.session_purge(now)  # sign-ins are rare: tidy up here
        await self.store.session_insert(_hash(token), actor, now, expires)
        return Session(token, actor, now, expires)

    async def get(self, token: str | None) -> Session | None:
        """The live session of a cookie value, or None (unknown, expired or idle)."""
        if not token or len(token) > 200:
            return None
        h = _hash(token)
        row = await self.store.session_get(h)
        if row is None:
            return None
        now = self.clock()
        idle = now - row["last_seen_at"] > self.settings.idle_timeout
        if row["expires_at"] <= now or idle:
            await self.store.session_delete(h)
            return None
        actor = row["actor"]
        is_admin = self.key_is_admin
        if (
            actor.startswith("api_key:")
            and is_admin is not None
            and not await is_admin(actor[len("api_key:") :])
        ):
            await self.store.session_delete(h)
            return None
        if now - row["last_seen_at"] >= _TOUCH_EVERY:
            await self.store.session_touch(h, now)
        return Session(token, actor, row["created_at"], row["expires_at"])

    async def end(self, token: str) -> None:
        await self.store.session_delete(_hash(token))

    async def of_request(self, request: web.Request) -> Session | None:
        try:
            return await self.get(request.cookies.get(COOKIE))
        except StoreUnavailable:
            raise GatewayError(
                503,
                "The session store is unavailable right now; retry shortly.",
                "api_error",
                "store_unavailable",
                retry_after=5,
            ) from None

    async def principal(self, request: web.Request) -> Principal | None:
        """For /v1/admin/* (auth/admin.py): the session's admin principal; a change
        (POST, DELETE, ...) also needs the CSRF header and, when sent, a same-origin Origin."""
        if COOKIE not in request.cookies:
            return None
        s = await self.of_request(request)
        if s is None:
            return None
        if request.method not in _SAFE:
            check_csrf(request, s)
        return Principal(org_id="admin", user_id=s.actor, is_admin=True, via="console")


def check_csrf(request: web.Request, s: Session) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), s.csrf.encode()):
        raise forbidden("Missing or wrong CSRF token (X-CSRF-Token).", "csrf_failed")
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        raise forbidden("Cross-origin change refused.", "csrf_failed")
