"""Deployments, load balancing, retries, circuit breakers and failover."""

# aigw.config imports routing.settings, which needs aigw.config's helpers: load config first
# so importing any routing module directly never meets a half-initialised cycle.
import aigw.config  # noqa: F401
