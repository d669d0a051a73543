"""The `rate_limiting:` config section.

Limits apply per scope: `key` (each API key; anonymous callers share one), `user` (when the
caller has a user id), `org` (each organisation) and `global` (the whole gateway). The four
limit fields at the top of the section are shorthand for the `key` scope. Per-key and
per-organisation overrides come from the store through `Principal.limits` (see stage.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from aigw.sections import Duration, Section

LIMIT_FIELDS = ("requests_per_minute", "requests_per_hour", "tokens_per_minute", "token_budget")
SCOPES = ("key", "user", "org", "global")


def _blank_is_none(v: Any) -> Any:
    # `${AIGW_RPM:-}` with the variable unset is "": no limit, like leaving the key empty.
    return None if isinstance(v, str) and not v.strip() else v


Limit = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_blank_is_none)]


class ScopeLimits(Section):
    """The limits of one scope; an absent (null) limit does not apply."""

    requests_per_minute: Limit = None
    requests_per_hour: Limit = None
    tokens_per_minute: Limit = None
    token_budget: Limit = None  # tokens per `budget_period`
    # Budget windows are aligned to the Unix epoch (UTC): "1d" resets at 00:00 UTC.
    budget_period: Duration = Field(86400.0, gt=0)

    def any(self) -> bool:
        return any(getattr(self, f) is not None for f in LIMIT_FIELDS)


class RateLimitSettings(Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = True
    # Shorthand for `key:` (limits of each API key).
    requests_per_minute: Limit = None
    requests_per_hour: Limit = None
    tokens_per_minute: Limit = None
    token_budget: Limit = None
    budget_period: Duration = Field(86400.0, gt=0)

    key: ScopeLimits = Field(default_factory=ScopeLimits)
    user: ScopeLimits = Field(default_factory=ScopeLimits)
    org: ScopeLimits = Field(default_factory=ScopeLimits)
    global_: ScopeLimits = Field(default_factory=ScopeLimits, alias="global")

    # Tokens reserved for the completion when a request sets no max_tokens (clipped to each
    # limit, so such a request waits for a full bucket rather than being refused outright).
    default_max_tokens: int = Field(1024, ge=1)

    # Shared state for a cluster of gateways; unset: each process limits on its own.
    redis_url: str | None = Field(default=None, repr=False)
    redis_prefix: str = "aigw:rl:"
    # redis_url names one node of a Redis Cluster: use the cluster client (keys of one
    # decision share a hash tag, so each decision is still one script on one node).
    redis_cluster: bool = False
    # Connect and read timeout of one decision (a decision waits at most twice this).
    redis_timeout: Duration = Field(0.5, gt=0)
    redis_retry_interval: Duration = Field(1.0, gt=0)  # how often a lost Redis is probed
    # While Redis is unreachable: fail_open (default) keeps serving, each instance enforcing
    # its share (limit / (cluster_size * server.workers)) locally, so the cluster as a whole
    # stays near the limit; fail_closed answers 503 until Redis is back.
    on_redis_error: Literal["fail_open", "fail_closed"] = "fail_open"
    cluster_size: int = Field(1, ge=1)  # number of `aigw serve` instances sharing the Redis

    @model_validator(mode="after")
    def _shorthand(self) -> RateLimitSettings:
        # Top-level limits fill what `key:` leaves unset.
        for f in (*LIMIT_FIELDS, "budget_period"):
            if f in self.model_fields_set and f not in self.key.model_fields_set:
                setattr(self.key, f, getattr(self, f))
        return self

    def scope(self, name: str) -> ScopeLimits:
        return self.global_ if name == "global" else getattr(self, name)
