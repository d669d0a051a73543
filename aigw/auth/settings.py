"""`auth:` config: API keys are always on; JWTs when `auth.jwt` is set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aigw.sections import Duration, Section

Algorithm = Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"]


class JWTClaims(Section):
    """Which claim carries what."""

    org: str = "org"
    user: str = "sub"
    scopes: str = "scope"  # a space-separated string or a list
    role: str = "role"  # a string or a list; `admin_role` in it makes the caller an admin
    models: str = "models"  # optional list of allowed models


class JWTConfig(Section):
    algorithms: list[Algorithm] = Field(default_factory=list)  # default: from the keys given
    secret: str | None = Field(default=None, repr=False)  # HS*: the shared secret
    public_key: str | None = None  # RS*/ES*: PEM text, or a path to a PEM file
    jwks_file: str | None = None
    jwks_url: str | None = None
    jwks_refresh: Duration = 300.0
    issuer: str | None = None
    audience: str | None = None
    leeway: Duration = 30.0
    claims: JWTClaims = Field(default_factory=JWTClaims)
    admin_role: str = "admin"
    default_org: str | None = None  # for tokens without an org claim (else 401)

    @model_validator(mode="after")
    def _check(self) -> JWTConfig:
        if not (self.secret or self.public_key or self.jwks_file or self.jwks_url):
            raise ValueError(
                "auth.jwt: give a secret (HS256), a public_key, a jwks_file or a jwks_url"
            )
        if not self.algorithms:
            algs: list[Algorithm] = []
            if self.secret:
                algs.append("HS256")
            if self.public_key or self.jwks_file or self.jwks_url:
                algs += ["RS256", "ES256"]
            self.algorithms = algs
        if any(a.startswith("HS") for a in self.algorithms) and not self.secret:
            raise ValueError("auth.jwt.algorithms: HS* needs auth.jwt.secret")
        return self


class AuthConfig(Section):
    required: bool = True  # false: anonymous callers allowed (local experiments only)
    jwt: JWTConfig | None = None
    key_cache_ttl: Duration = 30.0  # a revoked key stops working within this
    key_cache_stale: Duration = 3600.0  # cached keys keep working this long while the DB is down
    key_cache_size: int = Field(100_000, ge=100)
    hash_secret: str | None = Field(default=None, repr=False)  # HMAC-SHA256 pepper for key hashes
    rotate_grace: Duration = 86400.0  # how long a rotated key stays valid
