"""Deployments, load balancing, retries, circuit breakers and failover."""
