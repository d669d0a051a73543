"""Upstream failures as the gateway's errors: one mapping of status to kind, Retry-After,
error-body fields, and the stream errors every translating adapter raises.

Each provider's `error()` is a pure function (status, body, headers) -> GatewayError built
from these, so whatever the gateway does with an error afterwards (redaction, logging)
composes with every provider alike.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from aigw.types import GatewayError


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Retry-After (seconds or HTTP date) or the providers' ms variants, in seconds."""
    for name in ("retry-after-ms", "x-ratelimit-reset-after-ms"):
        v = headers.get(name) or headers.get(name.title())
        if v:
            try:
                return float(v) / 1000.0
            except ValueError:
                pass
    v = headers.get("retry-after") or headers.get("Retry-After")
    if not v:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def json_object(body: bytes) -> dict[str, Any] | None:
    """An error body parsed, if it is a JSON object."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def fallback_message(status: int, body: bytes) -> str:
    """What to say when the body is not the provider's documented error shape."""
    message = f"upstream returned HTTP {status}"
    if body:
        message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
    return message


def upstream_status_error(
    status: int,
    message: str,
    headers: dict[str, str],
    provider: str,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> GatewayError:
    """The gateway's common mapping of an upstream failure status:
    4xx passes through (429 retryable, with its Retry-After), 5xx/529 -> 502 retryable."""
    ra = retry_after_seconds(headers)
    if status == 429:
        return GatewayError(
            429,
            message,
            type_ or "rate_limit_error",
            code or "rate_limit_exceeded",
            param,
            retryable=True,
            retry_after=ra,
        )
    if status == 408:
        return GatewayError(
            504,
            f"{provider}: upstream timed out: {message}",
            "api_error",
            "upstream_timeout",
            retryable=True,
            retry_after=ra,
        )
    if 400 <= status < 500:
        return GatewayError(status, message, type_ or "invalid_request_error", code, param)
    return GatewayError(
        502,
        f"{provider}: upstream error {status}: {message}",
        "api_error",
        code or "upstream_error",
        retryable=True,
        retry_after=ra,
    )


def unreadable_event(provider: str) -> GatewayError:
    return GatewayError(
        502, f"{provider}: unreadable stream event", "api_error", "bad_upstream_response"
    )


def stream_truncated(provider: str) -> GatewayError:
    """The upstream closed its stream before the answer's end: never a silent short answer."""
    return GatewayError(
        502,
        f"{provider}: the stream ended before the message was complete",
        "api_error",
        "upstream_stream_truncated",
    )


def no_embeddings(provider: str, model: Any) -> GatewayError:
    return GatewayError(
        400,
        f"The model `{model}` is served by {provider}, which has no embeddings API.",
        "invalid_request_error",
        "model_not_supported",
        "model",
    )
