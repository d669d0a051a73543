"""The seam every provider fills: pure translation between OpenAI's API and the provider's.

An adapter does no I/O. `providers/http.py` owns the sessions and makes the calls;
`routing/dispatch.py` puts the two together. A new provider is one module with one adapter
object and one line in `providers/registry.py`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aigw.config import ProviderConfig
from aigw.types import GatewayError, Usage


@dataclass(slots=True)
class UpstreamRequest:
    path: str  # appended to the provider's base_url, e.g. "/chat/completions"
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Credentials(Protocol):
    """A provider's request credentials that cannot be a fixed header: an OAuth bearer token
    that expires (Vertex), a signature over the exact bytes sent (SigV4). The adapter makes
    one per provider (`credentials(conf)`, optional); the HTTP client keeps it for the
    client's lifetime and, just before each send, adds the headers it returns. Providers
    with a fixed key have none, and their requests pay nothing for this."""

    def headers(self, url: str, headers: dict[str, str], body: bytes) -> Awaitable[dict[str, str]]:
        """Headers to add to this POST of `body` to `url` (the full URL, query included)
        whose other headers are `headers`. Never blocks the event loop: a refresh or any
        other I/O runs in a thread, shared by concurrent callers."""
        ...


class StreamDecoder(Protocol):
    """Cuts a streamed body into events as its bytes arrive: SSE for most providers
    (`providers/sse.py`), AWS's binary event stream for Bedrock. An event is its name (if
    any) and its payload, handed to the provider's `StreamTranslator`."""

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, bytes]]: ...

    def flush(self) -> Iterator[tuple[str | None, bytes]]:
        """The body ended: any event still owed."""
        ...


class StreamTranslator(Protocol):
    """Turns the provider's stream events into OpenAI chunk dicts, one stream per instance."""

    usage: Usage | None  # known once the provider reported it

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        """One event (its name, if any, and its payload; for SSE the `event:` and `data:`).
        May raise GatewayError for an error event."""
        ...

    def close(self) -> list[dict[str, Any]]:
        """The upstream stream ended: any chunks still owed to the client."""
        ...


class ProviderAdapter(Protocol):
    type: str
    default_base_url: str
    default_models: tuple[str, ...]
    # True when the provider speaks OpenAI's format, so its bytes can be passed through.
    passthrough: bool
    # How a streamed answer is framed: SSEParser for most providers.
    stream_decoder: Callable[[], StreamDecoder]

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest: ...

    def chat_response(self, body: dict[str, Any], model: str) -> dict[str, Any]: ...

    def chat_stream(self, model: str) -> StreamTranslator: ...

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest: ...

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]: ...

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        """Map an upstream error response to the client's error (and mark it retryable)."""
        ...


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Retry-After (seconds or HTTP date) or the provider's ms variants, in seconds."""
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
        import time
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


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
    if status in (408,):
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


def text_of(content: Any) -> str:
    """The text of an OpenAI message `content` (a string, or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
    return str(content)


def chat_completion(
    id_: str,
    model: str,
    text: str,
    tool_calls: list[dict[str, Any]],
    reasoning: str,
    finish_reason: str,
    usage: Usage,
) -> dict[str, Any]:
    """An OpenAI `chat.completion` with one assistant choice, as every translating provider
    answers: `content` is null when the answer is only tool calls, as OpenAI sends it."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": id_,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage.to_openai(),
    }
