"""Who is calling: an API key (looked up by hash through the key cache), a JWT, or the
admin key. Produces the Principal every later stage reads."""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aigw.auth.cache import KeyCache
from aigw.auth.jwt import JWTVerifier, looks_like_jwt
from aigw.auth.keys import KeyHasher, looks_like_key
from aigw.auth.settings import AuthConfig
from aigw.store.base import KeyRecord, Store, StoreUnavailable
from aigw.types import GatewayError, Principal

log = logging.getLogger("aigw.auth")

API_SCOPES = ("chat", "embeddings", "models", "usage")
ADMIN_SCOPE = "admin"
_ENDPOINT_SCOPE = {
    "chat": "chat",
    "messages": "chat",
    "responses": "chat",
    "embeddings": "embeddings",
}


@dataclass(slots=True)
class KeyPrincipal(Principal):
    """A principal from an API key: also carries the key's budget for the budget stage."""

    budget: dict[str, Any] | None = None


def token_from(headers: Mapping[str, str]) -> str | None:
    h = headers.get("Authorization", "")
    if h[:7].lower() == "bearer ":
        return h[7:].strip() or None
    return headers.get("x-api-key") or None


def _unauthorized(message: str, code: str = "invalid_api_key") -> GatewayError:
    return GatewayError(401, message, "invalid_request_error", code)


def forbidden(message: str, code: str = "insufficient_permissions") -> GatewayError:
    return GatewayError(403, message, "invalid_request_error", code)


def principal_of(rec: KeyRecord) -> KeyPrincipal:
    scopes = frozenset(rec.scopes)
    return KeyPrincipal(
        org_id=rec.org_id,
        key_id=rec.id,
        user_id=rec.user_id,
        scopes=scopes,
        allowed_models=frozenset(rec.models) if rec.models else None,
        priority=rec.priority,
        may_set_priority=rec.may_set_priority,
        cache_enabled=rec.cache_enabled,
        limits=rec.limits,
        is_admin=ADMIN_SCOPE in scopes,
        via="api_key",
        budget=rec.budget,
    )


class Authenticator:
    def __init__(self, cfg: AuthConfig, store: Store) -> None:
        self.cfg = cfg
        self.required = cfg.required
        self.hasher = KeyHasher(cfg.hash_secret)
        self.cache = KeyCache(
            store.key_by_hash,
            ttl=cfg.key_cache_ttl,
            stale=cfg.key_cache_stale,
            size=cfg.key_cache_size,
        )
        self.jwt = JWTVerifier(cfg.jwt) if cfg.jwt else None
        self._admin_key = os.environ.get("AIGW_ADMIN_KEY") or None
        # key hash -> (record, its principal): a principal is built once per record the
        # cache loads, not once per request. Bounded like the key cache.
        self._principals: dict[str, tuple[KeyRecord, KeyPrincipal]] = {}

    def admin_key_matches(self, token: str) -> bool:
        admin = os.environ.get("AIGW_ADMIN_KEY") or self._admin_key
        return bool(admin) and hmac.compare_digest(token.encode(), admin.encode())  # type: ignore[union-attr]

    async def authenticate(self, token: str | None) -> Principal:
        """The caller's principal; anonymous only when auth is not required."""
        p = await self.identify(token)
        return Principal() if p is None else p

    def known(self, token: str | None) -> Principal | None:
        """The principal of an API key the cache holds fresh and that is active: the common
        case, with no I/O and no coroutine. None: anything else, for `identify` to decide
        (and explain). The same checks as `identify`, so nothing stays valid longer."""
        if token is None or not looks_like_key(token):
            return None
        h = self.hasher.hash(token)
        rec = self.cache.peek(h)
        if rec is None or rec.status() != "active":
            return None
        return self._principal(h, rec)

    async def identify(self, token: str | None) -> Principal | None:
        """None: an anonymous caller (allowed only with `auth.required: false`)."""
        if token is None:
            if not self.required:
                return None
            raise _unauthorized(
                "You didn't provide an API key. Send 'Authorization: Bearer <key>'.",
                "missing_api_key",
            )
        if looks_like_key(token):
            return await self._by_key(token)
        if self.jwt is not None and looks_like_jwt(token):
            return self.jwt.principal(token)
        if self.admin_key_matches(token):
            return Principal(org_id="admin", is_admin=True, via="admin_key")
        if not self.required:
            return None  # local experiments: any other token is anonymous
        raise _unauthorized("Incorrect API key provided.")

    async def _by_key(self, token: str) -> Principal:
        h = self.hasher.hash(token)
        try:
            rec = await self.cache.get(h)
        except StoreUnavailable:
            raise GatewayError(
                503,
                "Cannot verify the API key right now (the key store is unavailable); retry.",
                "api_error",
                "auth_unavailable",
                retryable=True,
                retry_after=1,
            ) from None
        if rec is None:
            raise _unauthorized("Incorrect API key provided.")
        now = time.time()
        status = rec.status(now)
        if status != "active":
            raise _unauthorized(f"This API key ({rec.prefix}...) is {status}.", f"key_{status}")
        return self._principal(h, rec)

    def _principal(self, key_hash: str, rec: KeyRecord) -> KeyPrincipal:
        got = self._principals.get(key_hash)
        if got is not None and got[0] is rec:  # the same load of the key: the same answer
            return got[1]
        if len(self._principals) >= self.cache.size:
            self._principals.clear()
        p = self._principals[key_hash] = (rec, principal_of(rec))
        return p[1]

    @staticmethod
    def authorize(p: Principal, endpoint: str, model: str | None) -> None:
        """403 unless the principal may use this endpoint and model."""
        if p.via == "anonymous" or p.is_admin:
            return
        scope = _ENDPOINT_SCOPE.get(endpoint, endpoint)
        if p.scopes and scope not in p.scopes and "*" not in p.scopes:
            raise forbidden(f"This credential does not have the '{scope}' scope.")
        if model is not None and p.allowed_models is not None and model not in p.allowed_models:
            raise forbidden(
                f"This credential may not use the model `{model}`.", "model_not_allowed"
            )
