"""The `routing:` config section: retries, circuit breakers, the priority queue, batching,
and the Redis that shares breaker state and concurrency leases across instances."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from aigw.sections import Duration, Section


class RetrySettings(Section):
    """Retries of one deployment before failing over to the next (tenacity, full jitter)."""

    # Per deployment, the first try included. 1 (the default) means no retry of the same
    # deployment, only failover; config.example.yaml suggests 3.
    max_attempts: int = Field(1, ge=1)
    base_delay: Duration = 0.2  # the n-th retry waits uniform(0, min(max_delay, base * 2^n))
    max_delay: Duration = 5.0
    # Cap on the whole request's retrying and failing over; past it the last error is returned.
    max_total: Duration = 30.0


class BreakerSettings(Section):
    enabled: bool = True
    failure_threshold: int = Field(5, ge=1)  # consecutive failures that open the breaker
    error_rate: float = Field(0.5, gt=0, le=1)  # ... or this share of failures in the window
    window: Duration = 30.0
    min_requests: int = Field(20, ge=1)  # the error rate counts only past this many calls
    cooldown: Duration = 5.0  # the first trip; each further trip multiplies it
    cooldown_multiplier: float = Field(2.0, ge=1)
    max_cooldown: Duration = 300.0


class BatchSettings(Section):
    """Embeddings micro-batching: concurrent calls to one deployment share an upstream call."""

    enabled: bool = False
    window: Duration = 0.005
    max_inputs: int = Field(256, ge=1)


class QueueSettings(Section):
    # How long a request may wait for a slot when the client sends no `x-aigw-timeout`.
    max_wait: Duration = 30.0
    reject_status: Literal[429, 503] = 503
    lease_ttl: Duration = 15.0  # cluster leases: a dead instance's slots free after this
    lease_poll: Duration = 0.02  # how often a waiter re-tries a full cluster-wide cap
    batch_embeddings: BatchSettings = Field(default_factory=BatchSettings)
    coalesce: bool = True  # identical in-flight temperature-0 chat requests share one call


class RoutingSettings(Section):
    retries: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    redis_url: str | None = None  # shared breakers and cluster-wide concurrency caps
    redis_prefix: str = "aigw:"
    # `<provider>/<model>` names come from clients: the routes and per-deployment state
    # (breaker, latency) of at most this many are kept, least recently used dropped first.
    max_direct_models: int = Field(256, ge=1)

    @model_validator(mode="after")
    def _check(self) -> RoutingSettings:
        if self.retries.max_delay < self.retries.base_delay:
            raise ValueError("retries.max_delay must not be below retries.base_delay")
        return self
