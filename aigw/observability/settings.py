"""The `observability:` config section: Prometheus metrics and OpenTelemetry tracing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from aigw.sections import Duration, Section


class MetricsSettings(Section):
    enabled: bool = True
    path: str = "/metrics"
    # "none": anyone who reaches the port may scrape; "admin": the admin credentials.
    auth: Literal["none", "admin"] = "none"
    # Add an `org` label to the request, token and cost counters. Off by default: org ids
    # are bounded by the orgs that exist, but every org multiplies the series.
    org_label: bool = False
    max_orgs: int = Field(200, ge=1)  # past this many distinct orgs: org="other"
    # `<provider>/<model>` names (not in the config) that get their own model/deployment
    # label; past this many, model="other". Configured names always have theirs.
    max_models: int = Field(50, ge=0)
    # Multi-worker mode: how often each worker publishes its scrape-time gauges (queue
    # length, breaker state, ...) for the scrape to sum.
    gauge_refresh: Duration = Field(1.0, gt=0)

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"must start with '/' (got {v!r})")
        return v


class TracingSettings(Section):
    enabled: bool = False
    # "otlp": OTLP over HTTP/protobuf to `endpoint` (a collector, Jaeger, Tempo...);
    # "console": spans on stdout (debugging); "none": spans only for the trace ids in logs.
    exporter: Literal["otlp", "console", "none"] = "otlp"
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    service_name: str = "aigw"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)


class ObservabilityConfig(Section):
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
