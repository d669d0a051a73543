"""Bedrock's errors -> the gateway's.

An HTTP error names its kind in the `x-amzn-ErrorType` header (`ThrottlingException:http://...`)
and sometimes in the body's `__type`; the text is the body's `message`. In a ConverseStream
the same kinds arrive as exception frames (`throttlingException`, lower camel case).
Throttling (and a model not yet ready) is a retryable 429; the service's own failures are
retryable 502/504; a request Bedrock refuses is the client's 400 with AWS's words. A refused
signature or missing permission is the gateway's problem, not the client's: it gets the
gateway's own message, never AWS's (which may quote the access key id).
"""

from __future__ import annotations

from typing import Any

from aigw.providers.common.errors import json_object, retry_after_seconds, upstream_status_error
from aigw.types import GatewayError

# Kinds that mean the gateway's AWS credentials or permissions are wrong.
AUTH_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)
THROTTLING = frozenset(
    {"ThrottlingException", "ModelNotReadyException", "ServiceQuotaExceededException"}
)
# Kind -> the HTTP status botocore's model gives it (for stream exceptions, which have none).
STATUS = {
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 429,
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "AccessDeniedException": 403,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


def kind_of(headers: dict[str, str], parsed: dict[str, Any]) -> str:
    raw = headers.get("x-amzn-errortype") or headers.get("X-Amzn-ErrorType") or ""
    raw = raw or str(parsed.get("__type") or parsed.get("code") or "")
    # "ThrottlingException:http://internal..." or "com.amazon.coral#ThrottlingException"
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


def classify(kind: str, status: int, message: str, headers: dict[str, str]) -> GatewayError:
    if kind in AUTH_ERRORS or status in (401, 403):
        return GatewayError(
            502,
            "bedrock: AWS refused the gateway's credentials or permissions for this model "
            "(check the provider's AWS credentials, region and IAM policy)",
            "api_error",
            "upstream_auth_failed",
            retryable=True,  # another deployment may well answer
        )
    if kind in THROTTLING:
        status = 429
    elif kind == "ValidationException":
        status = 400
    elif kind in ("ModelErrorException", "ModelStreamErrorException") or status == 424:
        return GatewayError(
            502,
            f"bedrock: the model failed: {message}",
            "api_error",
            "upstream_error",
            retryable=True,
            retry_after=retry_after_seconds(headers),
        )
    return upstream_status_error(status, message, headers, "bedrock")


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """An HTTP error answer from bedrock-runtime -> the client's error."""
    parsed = (json_object(body) if body else None) or {}
    message = str(parsed.get("message") or parsed.get("Message") or "")
    if not message:
        message = f"upstream returned HTTP {status}"
    return classify(kind_of(headers, parsed), status, message, headers)


def stream_exception(name: str, payload: dict[str, Any]) -> GatewayError:
    """An exception frame in a ConverseStream (`throttlingException`, ...) -> an error."""
    kind = name[:1].upper() + name[1:]
    message = str(payload.get("message") or payload.get("originalMessage") or kind)
    return classify(kind, STATUS.get(kind, 500), message, {})
