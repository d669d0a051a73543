"""Anthropic's error format, both ways: an upstream's `{"type": "error", "error": {type,
message}}` (body or stream event) -> the gateway's error, and the gateway's error -> the
body and status a /v1/messages client expects."""

from __future__ import annotations

from typing import Any

from aigw.providers.common.errors import (
    fallback_message,
    json_object,
    retry_after_seconds,
    upstream_status_error,
)
from aigw.types import GatewayError

# Anthropic's error types by HTTP status (and back), as listed in its API reference.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

# Anthropic's error type for each status the gateway answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}

# --- upstream -> gateway -------------------------------------------------------------------


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """An Anthropic error response -> the client's error. 529 overloaded_error is a
    temporary condition: 503, retryable, with the provider's text."""
    message, type_ = fallback_message(status, body), None
    parsed = json_object(body)
    if parsed is not None:
        message = f"upstream returned HTTP {status}"
        err = parsed.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            type_ = err.get("type") if isinstance(err.get("type"), str) else None
    if status == 529 or type_ == "overloaded_error":
        return GatewayError(
            503,
            f"anthropic: overloaded: {message}",
            "api_error",
            "overloaded_error",
            retryable=True,
            retry_after=retry_after_seconds(headers),
        )
    return upstream_status_error(
        status,
        message,
        headers,
        "anthropic",
        "invalid_request_error" if status < 500 and status != 429 else None,
        type_,
    )


def stream_error(payload: dict[str, Any]) -> GatewayError:
    """An `error` event in the middle of a stream."""
    raw = payload.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    type_ = str(err.get("type") or "api_error")
    message = str(err.get("message") or "upstream stream error")
    status = ERROR_STATUS.get(type_, 500)
    if status == 529:
        status = 503
    return GatewayError(
        status if status >= 400 else 502,
        f"anthropic: {message}",
        "api_error" if status >= 500 else type_,
        type_,
        retryable=status == 429 or status >= 500,
    )


# --- gateway -> a /v1/messages client ------------------------------------------------------


def invalid(message: str, param: str | None = None) -> GatewayError:
    """A bad /v1/messages request. The message starts with the offending field's path
    (`messages.0.content.1.source: ...`, as Anthropic words it), which is also its param."""
    if param is None and ": " in message:
        param = message.split(": ", 1)[0]
    return GatewayError(400, message, "invalid_request_error", None, param)


def error_status(e: GatewayError) -> int:
    """Anthropic's SDKs treat 529 as "overloaded" (and retry it): say so in their terms."""
    return 529 if e.code == "overloaded_error" else e.status


def error_body(e: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    if e.code == "overloaded_error":
        type_ = "overloaded_error"
    else:
        type_ = ERROR_TYPES.get(
            e.status, "api_error" if e.status >= 500 else "invalid_request_error"
        )
    body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": e.message}}
    if request_id:
        body["request_id"] = request_id
    return body
