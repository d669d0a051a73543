"""Authentication of a batch's lines: they run as the credential that created the batch.

An API key is looked up again by its id (a key revoked or expired since then fails the
lines it would have run, with the 401 the key would get); other creators (the admin key,
a JWT, anonymous with auth off) are kept as a snapshot of their principal. This stage takes
the auth stage's place in the batch chain; every other stage is the interactive one.
"""

from __future__ import annotations

import time
from typing import Any

from aigw.auth.authenticator import Authenticator, principal_of
from aigw.pipeline import Handler, RequestContext, Result
from aigw.store.base import KeyRecord, Store, StoreUnavailable
from aigw.types import GatewayError, Principal


def snapshot(p: Principal) -> dict[str, Any] | None:
    """What is kept of a creator that is not an API key (None for an API key)."""
    if p.via == "api_key":
        return None
    return {
        "org_id": p.org_id,
        "user_id": p.user_id,
        "via": p.via,
        "is_admin": p.is_admin,
        "scopes": sorted(p.scopes),
        "models": sorted(p.allowed_models) if p.allowed_models is not None else None,
    }


def from_snapshot(s: dict[str, Any]) -> Principal:
    return Principal(
        org_id=s["org_id"],
        user_id=s.get("user_id"),
        via=s.get("via", "anonymous"),
        is_admin=bool(s.get("is_admin")),
        scopes=frozenset(s.get("scopes") or ()),
        allowed_models=frozenset(s["models"]) if s.get("models") is not None else None,
    )


class BatchAuthStage:
    """Stage 2 of the batch chain. The worker puts the batch's creator in `ctx.principal`
    (an API key's only by id); this re-checks it and authorises endpoint and model."""

    def __init__(self, auth: Authenticator, store: Store) -> None:
        self.auth = auth
        self.store = store
        self._keys: dict[str, tuple[float, KeyRecord | None]] = {}
        # A revoked key stops its batches' lines within this, as it stops its requests.
        self.ttl = min(auth.cfg.key_cache_ttl, 5.0)

    async def handle(self, ctx: RequestContext, call_next: Handler) -> Result:
        p = ctx.principal
        if p.via == "api_key" and p.key_id is not None:
            rec = await self._key(p.key_id)
            if rec is None:
                raise GatewayError(
                    401,
                    "The API key that created this batch no longer exists.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
            status = rec.status()
            if status != "active":
                raise GatewayError(
                    401,
                    f"The API key that created this batch ({rec.prefix}...) is {status}.",
                    "invalid_request_error",
                    f"key_{status}",
                )
            p = ctx.principal = principal_of(rec)
        self.auth.authorize(p, ctx.endpoint, ctx.model)
        return await call_next(ctx)

    async def _key(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        hit = self._keys.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            rec = next((k for k in await self.store.find_keys(key_id) if k.id == key_id), None)
        except StoreUnavailable:
            raise GatewayError(
                503,
                "The key store is unavailable.",
                "api_error",
                "auth_unavailable",
                retryable=True,
                retry_after=5,
            ) from None
        if len(self._keys) > 1000:
            self._keys.clear()
        self._keys[key_id] = (now + self.ttl, rec)
        return rec
