"""The seam every provider fills: a spec (what the provider is) and an adapter (pure
translation between OpenAI's API and the provider's).

An adapter does no I/O. `providers/http.py` owns the connections and makes the calls;
`routing/dispatch.py` puts the two together. A provider is one package,
`aigw/providers/<name>/`, whose `spec` is listed once in `providers/registry.py`
(docs/PROVIDERS.md, "Adding a provider").
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aigw.providers.common.sse import SSEParser
from aigw.providers.settings import ProviderConfig
from aigw.types import GatewayError, Usage

# Capabilities a spec declares; the dispatcher asks for them, never for a provider by name.
CHAT = "chat"
EMBEDDINGS = "embeddings"
COUNT_TOKENS = "count_tokens"  # counts a Messages request's input tokens (`/count_tokens`)
MESSAGES = "messages"  # speaks Anthropic's Messages format: a /v1/messages request and its
# answer pass through unchanged (see `RequestContext.native`)


@dataclass(slots=True)
class UpstreamRequest:
    path: str  # appended to the provider's base_url, e.g. "/chat/completions"
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StreamDecoder(Protocol):
    """Cuts a streamed body into events as its bytes arrive: SSE for most providers
    (`common/sse.py`), AWS's binary event stream for Bedrock. An event is its name (if any)
    and its payload, handed to the provider's `StreamTranslator`."""

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, bytes]]: ...

    def flush(self) -> Iterator[tuple[str | None, bytes]]:
        """The body ended: any event still owed."""
        ...


@dataclass(slots=True)
class Answer:
    """A translated upstream answer: the OpenAI-shaped body, its usage, and (for a provider
    whose own format a client may speak) the upstream's own body."""

    body: dict[str, Any]
    usage: Usage | None
    native: dict[str, Any] | None = None


class Credentials(Protocol):
    """A provider's request credentials that cannot be a fixed header: an OAuth bearer token
    that expires (Vertex), a signature over the exact bytes sent (SigV4). The adapter makes
    one per provider (the spec's `credentials`, optional); the HTTP client keeps it for the
    client's lifetime and, just before each send, adds the headers it returns. Providers
    with a fixed key have none, and their requests pay nothing for this."""

    def headers(self, url: str, headers: dict[str, str], body: bytes) -> Awaitable[dict[str, str]]:
        """Headers to add to this POST of `body` to `url` (the full URL, query included)
        whose other headers are `headers`. Never blocks the event loop: a refresh or any
        other I/O runs in a thread, shared by concurrent callers."""
        ...

    def rejected(self) -> None:
        """The upstream answered 401 to what `headers` gave: forget anything cached (a token
        revoked early), so the next request gets fresh credentials."""
        ...


class StreamTranslator(Protocol):
    """Turns the provider's stream events into OpenAI chunk dicts, one stream per instance."""

    usage: Usage | None  # known once the provider reported it

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        """One event from the spec's `stream_decoder` (for SSE its `event:` name, if any, and
        its `data:` payload). May raise GatewayError for an error event."""
        ...

    def close(self) -> list[dict[str, Any]]:
        """The upstream stream ended: any chunks still owed to the client (or raise
        `common.errors.stream_truncated`)."""
        ...


class ProviderAdapter(Protocol):
    # True when the provider speaks OpenAI's format, so its bytes can be passed through.
    passthrough: bool

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest: ...

    def chat_response(self, body: dict[str, Any], model: str) -> Answer: ...

    def chat_stream(self, model: str) -> StreamTranslator: ...

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest: ...

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> Answer: ...

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        """Map an upstream error response to the client's error (and mark it retryable).
        Pure: the same input always gives the same error."""
        ...


class NativeAdapter(ProviderAdapter, Protocol):
    """An adapter with the MESSAGES and COUNT_TOKENS capabilities: it takes a /v1/messages
    client's own request."""

    def messages_request(
        self,
        conf: ProviderConfig,
        native: dict[str, Any],
        body: dict[str, Any],
        model: str,
        stream: bool,
    ) -> UpstreamRequest: ...

    def count_tokens_request(
        self, conf: ProviderConfig, native: dict[str, Any], model: str
    ) -> UpstreamRequest: ...

    def count_tokens_response(self, body: dict[str, Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider type is: listed once in `providers/registry.py`."""

    type: str  # the `type:` in the config file (and the provider's name when it is one)
    default_base_url: str
    adapter: ProviderAdapter
    # Environment variables: with `key_env` set, `aigw serve` without a config file enables
    # the provider (and `base_url_env`, when set, overrides its URL).
    key_env: str | None = None
    base_url_env: str | None = None
    # More settings from the environment when enabled that way: {setting: variable}.
    env_settings: dict[str, str] = field(default_factory=dict)
    settings: builtins.type[ProviderConfig] = ProviderConfig  # its `providers.<name>` model
    capabilities: frozenset[str] = frozenset({CHAT})
    default_models: tuple[str, ...] = ()  # listed when enabled from the environment
    # When enabling from the environment takes more than one key variable: the provider's
    # settings from the environment, or None to leave it off (key_env is then only listed).
    from_env: Callable[[Mapping[str, str]], dict[str, Any] | None] | None = None
    # Credentials that cannot be a fixed header (an expiring token, a signature over the
    # body): made once per configured provider by the HTTP client (see `Credentials`).
    credentials: Callable[[ProviderConfig], Credentials] | None = None
    # How a streamed answer is framed (SSE for most; AWS's binary event stream for Bedrock).
    stream_decoder: Callable[[], StreamDecoder] = SSEParser


S = TypeVar("S", bound=ProviderConfig)


def settings_as(conf: ProviderConfig, cls: type[S]) -> S:
    """A provider's own settings model (the loader built it from the spec); a plain
    ProviderConfig (built in code) gets the model's defaults."""
    if isinstance(conf, cls):
        return conf
    return cls.model_validate(conf.model_dump())
