"""JWT verification: HS256 with a shared secret, RS256/ES256 with a public key or a JWKS
(file or URL). `iss`, `aud`, `exp` (required) and `nbf` are checked.

The algorithm is never taken on trust: the token's `alg` must be one the config allows, and
it picks the kind of key (HS* -> the shared secret only, RS*/ES* -> public keys only), so
`alg: none` and the classic confusion (an RS256 public key used as an HS256 secret) fail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import orjson
from cryptography.hazmat.primitives import serialization

from aigw.auth.settings import JWTConfig
from aigw.types import GatewayError, Principal

log = logging.getLogger("aigw.auth")


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


def _invalid(why: str) -> GatewayError:
    # The reason is safe to show: it never contains the token.
    return GatewayError(401, f"Invalid token: {why}.", "invalid_request_error", "invalid_api_key")


def _strings(claims: dict[str, Any], name: str, *, split: bool) -> list[str]:
    """A claim that holds names: a string (space-separated when `split`, as OAuth scopes) or a
    list of strings; null or absent is none. Anything else refuses the token."""
    v = claims.get(name)
    if v is None:
        return []
    if isinstance(v, str):
        return v.split() if split else [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise _invalid(f"claim {name!r} must be a string or a list of strings")


def _load_pem(value: str) -> Any:
    text = value if "-----BEGIN" in value else Path(value).read_text()
    return serialization.load_pem_public_key(text.encode())


class JWTVerifier:
    def __init__(self, cfg: JWTConfig) -> None:
        self.cfg = cfg
        self.algorithms = set(cfg.algorithms)
        self._public = _load_pem(cfg.public_key) if cfg.public_key else None
        self._jwks: dict[str, Any] = {}  # kid -> key object
        self._jwks_loaded = 0.0
        self._refresh_task: asyncio.Task[None] | None = None
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._last_exp = 0.0

    # --- JWKS ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self.cfg.jwks_file:
            data = await asyncio.to_thread(Path(self.cfg.jwks_file).read_bytes)
            self._set_jwks(orjson.loads(data))
        if self.cfg.jwks_url:
            await self._fetch_jwks()
            self._refresh_task = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._refresh_task:
            self._refresh_task.cancel()

    def _set_jwks(self, data: dict[str, Any]) -> None:
        keys = {}
        for jwk in pyjwt.PyJWKSet.from_dict(data).keys:
            keys[jwk.key_id or ""] = jwk.key
        self._jwks = keys
        self._jwks_loaded = time.monotonic()

    async def _fetch_jwks(self) -> None:
        assert self.cfg.jwks_url
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s,
                s.get(self.cfg.jwks_url) as r,
            ):
                r.raise_for_status()
                self._set_jwks(orjson.loads(await r.read()))
        except (aiohttp.ClientError, TimeoutError, ValueError, pyjwt.PyJWTError) as e:
            # Keep the keys we have: an identity provider hiccup must not log everyone out.
            log.warning("JWKS fetch failed", extra={"url": self.cfg.jwks_url, "error": str(e)})

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.jwks_refresh)
            await self._fetch_jwks()

    # --- verification -------------------------------------------------------------------
    def _key_for(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _invalid(f"algorithm {alg!r} is not accepted")
        if alg.startswith("HS"):
            return self.cfg.secret
        kid = header.get("kid")
        if self._jwks:
            key = self._jwks.get(kid or "")
            if key is None and kid is None and len(self._jwks) == 1:
                key = next(iter(self._jwks.values()))
            if key is not None:
                return key
        if self._public is not None:
            return self._public
        raise _invalid("unknown signing key (kid)")

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError:
            raise _invalid("malformed") from None
        key = self._key_for(header)
        try:
            return pyjwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.cfg.audience,
                issuer=self.cfg.issuer,
                leeway=self.cfg.leeway,
                options={"require": ["exp"], "verify_aud": self.cfg.audience is not None},
            )
        except pyjwt.ExpiredSignatureError:
            raise _invalid("expired") from None
        except pyjwt.ImmatureSignatureError:
            raise _invalid("not valid yet (nbf)") from None
        except pyjwt.InvalidAudienceError:
            raise _invalid("wrong audience") from None
        except pyjwt.InvalidIssuerError:
            raise _invalid("wrong issuer") from None
        except pyjwt.MissingRequiredClaimError as e:
            raise _invalid(f"missing claim {e.claim!r}") from None
        except (pyjwt.PyJWTError, ValueError, TypeError):
            raise _invalid("bad signature or format") from None

    def principal(self, token: str) -> Principal:
        """The token's principal. A verified token is remembered until its `exp`, so a
        client reusing it (the usual case) does not pay a signature check per request."""
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None:
            if now < hit[0]:
                return replace(hit[1])
            del self._verified[token]
        p = self._principal(token)
        exp = self._last_exp + self.cfg.leeway
        if exp > now:
            if len(self._verified) >= 10_000:
                self._verified.clear()  # bounded; refilled by the next requests
            self._verified[token] = (exp, p)
        return replace(p)

    def _principal(self, token: str) -> Principal:
        claims = self.verify(token)
        self._last_exp = float(claims["exp"])
        c = self.cfg.claims
        org = claims.get(c.org) or self.cfg.default_org
        if not isinstance(org, str) or not org:
            raise _invalid(f"no organisation (claim {c.org!r})")
        scopes = _strings(claims, c.scopes, split=True)
        roles = _strings(claims, c.role, split=False)
        # models: absent means every model; a string is that one model; never "all" by accident
        models = (
            _strings(claims, c.models, split=False) if claims.get(c.models) is not None else None
        )
        user = claims.get(c.user)
        return Principal(
            org_id=org,
            user_id=str(user) if user is not None else None,
            scopes=frozenset(scopes),
            allowed_models=frozenset(models) if models is not None else None,
            is_admin=self.cfg.admin_role in roles,
            via="jwt",
        )
