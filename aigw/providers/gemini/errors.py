"""Google's error body, `{"error": {"code", "message", "status", "details"}}` (Vertex's stream
endpoint wraps it in a list), -> the gateway's error.

RESOURCE_EXHAUSTED (429) is retryable, with the wait from its `google.rpc.RetryInfo` detail
(`"retryDelay": "37s"`) or the Retry-After header; UNAVAILABLE, INTERNAL and other 5xx are
retryable 502s; INVALID_ARGUMENT and the other 4xx keep their status and Google's message.
A refused credential (UNAUTHENTICATED, PERMISSION_DENIED, or the Gemini API's 400 with
reason API_KEY_INVALID) is the gateway's fault, not the client's: a 502
`upstream_auth_failed` in the gateway's own words (Google's text is not passed on), as the
dispatcher makes of every upstream 401/403 (routing/redact.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.common.errors import retry_after_seconds, upstream_status_error
from aigw.types import GatewayError

GOOGLE_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
CREDENTIAL_REASONS = (
    "API_KEY_INVALID",
    "API_KEY_EXPIRED",
    "ACCESS_TOKEN_EXPIRED",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED",
)


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON ("37s", "0.5s") -> seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return max(0.0, float(value[:-1]))
    except ValueError:
        return None


def error_of(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    err = parsed.get("error") if isinstance(parsed, dict) else None
    return err if isinstance(err, dict) else {}


def to_gateway_error(
    status: int, err: dict[str, Any], headers: dict[str, str], provider: str, raw: bytes = b""
) -> GatewayError:
    gstatus = str(err.get("status") or "")
    message = str(err.get("message") or "")
    if not message:
        message = f"upstream returned HTTP {status}"
        if raw:
            message += f": {raw[:200].decode('utf-8', 'replace')}"
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    if (
        gstatus in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or status in (401, 403)
        or reasons & set(CREDENTIAL_REASONS)
    ):
        return GatewayError(
            502,
            f"{provider}: the provider refused the gateway's credentials "
            f"({gstatus or status}); check this provider's api_key or credentials in the "
            "gateway's configuration",
            "api_error",
            "upstream_auth_failed",
        )
    if gstatus == "RESOURCE_EXHAUSTED" or status == 429:
        wait = next(
            (
                parse_duration(d.get("retryDelay"))
                for d in details
                if str(d.get("@type", "")).endswith("google.rpc.RetryInfo")
            ),
            None,
        )
        return GatewayError(
            429,
            f"{provider}: {message}",
            "rate_limit_error",
            "rate_limit_exceeded",
            retryable=True,
            retry_after=wait if wait is not None else retry_after_seconds(headers),
        )
    code = gstatus.lower() or None
    if status == 499:  # CANCELLED: not the client's doing
        status = 502
    return upstream_status_error(status, f"{provider}: {message}", headers, provider, None, code)


def error_from(status: int, body: bytes, headers: dict[str, str], provider: str) -> GatewayError:
    return to_gateway_error(status, error_of(body), headers, provider, body)


def stream_error(event: dict[str, Any], provider: str) -> GatewayError:
    """An error sent inside the stream (`data: {"error": {...}}`) after it began."""
    err = event.get("error")
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    status = (
        code
        if isinstance(code, int) and 400 <= code < 600
        else GOOGLE_STATUS.get(str(err.get("status")), 500)
    )
    return to_gateway_error(status, err, {}, provider)
