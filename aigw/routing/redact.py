"""Upstream error text on its way to a client or a log: no credential passes.

A self-hosted upstream may echo its `Authorization` header in an error
(`Incorrect API key provided: Bearer sk-...`), so the provider key would reach every client.
Every error an adapter maps from an upstream answer passes `UpstreamErrors.scrub` in the
dispatcher (and in the routes that call an upstream themselves) before it is raised:

- upstream 401/403 means the upstream refused the *gateway's* credentials: the client gets
  the gateway's own message (502, `upstream_auth_failed`), never the upstream's text;
- any other error keeps its message, with anything shaped like a credential replaced by
  `[redacted]`: the configured provider keys themselves, `sk-...`, `Bearer ...`, `x-api-key`
  / `api_key=` values, JWTs, AWS and Google key ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aigw.types import GatewayError

REDACTED = "[redacted]"

_SHAPES = [
    r"\bsk-[A-Za-z0-9_\-*.]{3,}",  # OpenAI / Anthropic keys, also echoed partly masked
    r"\bbearer\s+[^\s\"',;]+",
    r"\b(?:x-api-key|api[_-]?key|authorization|access[_-]?token|secret)\b"
    r"[\"']?\s*[:=]\s*[\"']?[^\s\"',;]+",
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",  # JWT
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
    r"\bAIza[0-9A-Za-z_\-]{35}\b",  # Google API key
]


class UpstreamErrors:
    """Built once from the configured provider keys; `scrub` is pure and cheap (errors only)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        literal = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        parts = [re.escape(s) for s in literal] + _SHAPES
        self._pattern = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)

    def text(self, s: str) -> str:
        return self._pattern.sub(REDACTED, s)

    def scrub(self, e: GatewayError, upstream_status: int, provider: str) -> GatewayError:
        """The error to raise instead of `e`, which an adapter mapped from the answer."""
        if upstream_status in (401, 403):
            return GatewayError(
                502,
                f"The upstream provider `{provider}` refused the gateway's own credentials "
                f"(HTTP {upstream_status}). This is the gateway's configuration, not your "
                "key: tell its operator.",
                "api_error",
                "upstream_auth_failed",
            )
        return self.clean(e)

    def clean(self, e: GatewayError) -> GatewayError:
        """Redact the message and param of an error whose text came from an upstream."""
        e.message = self.text(e.message)
        e.args = (e.message,)
        if e.param is not None:
            e.param = self.text(str(e.param))
        if e.code is not None:
            e.code = self.text(str(e.code))
        return e
