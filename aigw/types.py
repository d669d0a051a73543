"""Types shared by every stage: the error that leaves the gateway, usage, the caller's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


class GatewayError(Exception):
    """An error the client sees, in OpenAI's shape: {"error": {message, type, param, code}}.

    `retryable` tells the routing layer whether another attempt (or deployment) may succeed.
    `retry_after` (seconds) is sent as the Retry-After header and honoured by retries.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retryable = retryable
        self.retry_after = retry_after
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def response_headers(self) -> dict[str, str]:
        h = dict(self.headers)
        if self.retry_after is not None:
            h["Retry-After"] = str(max(1, int(self.retry_after + 0.999)))
        return h

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.message!r}, code={self.code!r})"


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)


def model_not_found(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


def no_provider_configured(model: str, hint: str) -> GatewayError:
    """A 404 that says why nothing can be found: the gateway has no provider at all."""
    return GatewayError(
        404,
        f"The model `{model}` is not available: no provider is configured on this gateway. "
        f"To add one, {hint}.",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from the provider's prompt cache
    cache_creation_tokens: int = 0  # Anthropic: prompt tokens written to its cache
    reasoning_tokens: int = 0  # completion tokens the model spent thinking (part of them)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out

    @classmethod
    def from_openai(cls, u: dict[str, Any] | None) -> Usage | None:
        if not u:
            return None
        details = u.get("prompt_tokens_details") or {}
        out_details = u.get("completion_tokens_details")
        if not isinstance(out_details, dict):
            out_details = {}
        return cls(
            prompt_tokens=int(u.get("prompt_tokens") or 0),
            completion_tokens=int(u.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
            reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
        )


@dataclass(slots=True)
class Principal:
    """Who is calling: filled by the auth stage (an anonymous principal when auth is off)."""

    org_id: str = "default"
    key_id: str | None = None
    user_id: str | None = None
    scopes: frozenset[str] = frozenset()
    allowed_models: frozenset[str] | None = None  # None: every model
    priority: int = 0  # higher is served first
    may_set_priority: bool = False
    cache_enabled: bool = True
    limits: dict[str, Any] = field(default_factory=dict)  # per-key/org overrides
    is_admin: bool = False
    via: str = "anonymous"  # "api_key" | "jwt" | "admin_key" | "anonymous"
