"""API keys: `aigw_` + 256 random bits. Only a hash (SHA-256, or HMAC-SHA256 with
`auth.hash_secret`) and a short display prefix are stored; the key itself is shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any

from aigw.auth import key_spec
from aigw.store.base import KeyRecord, Store

KEY_PREFIX = "aigw_"
PREFIX_LEN = 12  # "aigw_" + 7 characters: enough to tell keys apart, useless to guess one


class KeyNotFound(LookupError):
    pass


def generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


class KeyHasher:
    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret.encode() if secret else None

    def hash(self, key: str) -> str:
        if self._secret is not None:
            # hmac.digest: OpenSSL's one-shot HMAC, the same value as hmac.new(...) without
            # building two hash objects in Python (it runs on every request).
            return hmac.digest(self._secret, key.encode(), "sha256").hex()
        return hashlib.sha256(key.encode()).hexdigest()


class KeyService:
    """Create, list, revoke and rotate keys: the same operations for the CLI and the API."""

    def __init__(self, store: Store, hasher: KeyHasher, rotate_grace: float = 86400.0) -> None:
        self.store = store
        self.hasher = hasher
        self.rotate_grace = rotate_grace

    def _new_record(self, plain: str, **fields: Any) -> KeyRecord:
        return KeyRecord(
            id="key_" + uuid.uuid4().hex[:16],
            prefix=plain[:PREFIX_LEN],
            key_hash=self.hasher.hash(plain),
            created_at=time.time(),
            **fields,
        )

    async def create(
        self,
        org_id: str,
        *,
        user_id: str | None = None,
        name: str = "",
        expires_in: float | None = None,
        models: list[str] | None = None,
        scopes: list[str] | None = None,
        limits: dict[str, Any] | None = None,
        budget: dict[str, Any] | None = None,
        priority: int = 0,
        may_set_priority: bool = False,
        cache_enabled: bool = True,
        actor: str = "cli",
    ) -> tuple[str, KeyRecord]:
        """-> (the plain key, to show once; its record). `InvalidKeySpec` names a bad field."""
        spec = key_spec.check(
            org_id=org_id,
            user_id=user_id,
            name=name,
            models=models,
            scopes=scopes,
            limits=limits,
            budget=budget,
            priority=priority,
            expires_in=expires_in,
        )
        org_id, name = spec["org_id"], spec["name"]
        plain = generate()
        rec = self._new_record(
            plain,
            org_id=org_id,
            user_id=spec["user_id"],
            name=name,
            scopes=sorted(set(spec["scopes"] or [])),
            models=sorted(set(spec["models"])) if spec["models"] else None,
            limits=spec["limits"] or {},
            budget=spec["budget"],
            priority=priority,
            may_set_priority=may_set_priority,
            cache_enabled=cache_enabled,
            expires_at=time.time() + expires_in if expires_in else None,
        )
        await self.store.insert_key(rec)
        await self.store.audit(actor, "keys.create", rec.id, {"org": org_id, "name": name})
        return plain, rec

    async def resolve(self, id_or_prefix: str) -> KeyRecord:
        found = await self.store.find_keys(id_or_prefix)
        if not found:
            raise KeyNotFound(f"no key with id or prefix {id_or_prefix!r}")
        if len(found) > 1:
            raise KeyNotFound(f"{id_or_prefix!r} matches {len(found)} keys: use the key id")
        return found[0]

    async def list(self, org_id: str | None = None) -> list[KeyRecord]:
        return await self.store.list_keys(org_id)

    async def revoke(self, id_or_prefix: str, actor: str = "cli") -> KeyRecord:
        rec = await self.resolve(id_or_prefix)
        if rec.revoked_at is None:
            rec.revoked_at = time.time()
            await self.store.revoke_key(rec.id, rec.revoked_at)
            await self.store.audit(actor, "keys.revoke", rec.id, {"org": rec.org_id})
        return rec

    async def rotate(
        self, id_or_prefix: str, grace: float | None = None, actor: str = "cli"
    ) -> tuple[str, KeyRecord, KeyRecord]:
        """A new key with the same settings; the old one stays valid for `grace` seconds.
        -> (the new plain key, new record, old record)."""
        old = await self.resolve(id_or_prefix)
        if old.status() != "active":
            raise KeyNotFound(f"key {old.id} is {old.status()}: it cannot be rotated")
        grace = self.rotate_grace if grace is None else grace
        plain = generate()
        fresh = self._new_record(
            plain,
            **{
                f: getattr(old, f)
                for f in (
                    "org_id",
                    "user_id",
                    "name",
                    "scopes",
                    "models",
                    "limits",
                    "budget",
                    "priority",
                    "may_set_priority",
                    "cache_enabled",
                    "expires_at",
                )
            },
        )
        until = time.time() + grace
        await self.store.replace_key(old.id, fresh, until)
        await self.store.audit(actor, "keys.rotate", old.id, {"new": fresh.id, "grace_s": grace})
        old = replace(
            old,
            replaced_by=fresh.id,
            expires_at=until
            if old.expires_at is None or old.expires_at > until
            else old.expires_at,
        )
        return plain, fresh, old
