"""Cohere's error body (`{"message": "..."}`, some with an `id`) -> the gateway's error."""

from __future__ import annotations

from aigw.providers.common.errors import fallback_message, json_object, upstream_status_error
from aigw.types import GatewayError


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """Cohere's `{"message": "..."}` (some errors add an `id`) -> the client's error."""
    parsed = json_object(body)
    if parsed is None:
        message = fallback_message(status, body)
    else:
        message = str(parsed.get("message") or f"upstream returned HTTP {status}")
    if status == 499:  # Cohere's "client closed request"
        status = 502
    return upstream_status_error(status, message, headers, "cohere")
