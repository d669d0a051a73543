"""The OpenAI adapter for a vendor that speaks OpenAI's API with known differences.

Each difference is declared once in the vendor's `Quirks` (presets/vendors.py) and applied
here: fields the vendor refuses (a 400 from the gateway, naming the field, before any call),
fields it does not know (left out), fields it names differently, a whitelist for vendors that
reject any unknown field, message `name`s it refuses, and where it reports usage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aigw.providers.base import Answer, UpstreamRequest
from aigw.providers.common.errors import no_embeddings
from aigw.providers.openai.adapter import OpenAIAdapter, OpenAIStream
from aigw.providers.settings import ProviderConfig
from aigw.types import Usage, bad_request


@dataclass(frozen=True, slots=True)
class Quirks:
    refuse: frozenset[str] = frozenset()  # fields the vendor answers with a 400: ours instead
    drop: frozenset[str] = frozenset()  # fields it does not take: left out
    rename: dict[str, str] = field(default_factory=dict)  # OpenAI name -> the vendor's
    only: frozenset[str] | None = None  # the vendor rejects every other field
    single_choice: bool = False  # n must be 1
    message_names: bool = True  # False: `messages[].name` is refused upstream, so left out
    stream_usage: bool = True  # takes stream_options.include_usage (else usage comes anyway)
    embeddings: bool = False


def usage_of(u: Any) -> Usage | None:
    """OpenAI's usage, with the vendors' own spellings of cached prompt tokens (DeepSeek's
    `prompt_cache_hit_tokens`)."""
    if not isinstance(u, dict):
        return None
    usage = Usage.from_openai(u)
    if usage is not None and not usage.cached_tokens:
        hit = u.get("prompt_cache_hit_tokens")
        if isinstance(hit, int):
            usage.cached_tokens = hit
    return usage


class PresetStream(OpenAIStream):
    __slots__ = ()

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        chunks = OpenAIStream.feed(self, event, data)
        for c in chunks:
            u = c.get("usage") or (c.get("x_groq") or {}).get("usage")  # Groq: x_groq.usage
            if u:
                self.usage = usage_of(u)
        return chunks


class PresetAdapter(OpenAIAdapter):
    """OpenAI's adapter with a vendor's `Quirks` applied to the request; answers pass
    through unchanged (usage read in the vendor's spelling)."""

    def __init__(self, name: str, quirks: Quirks) -> None:
        self.name = name
        self.quirks = quirks

    def _adjust(self, body: dict[str, Any]) -> dict[str, Any]:
        q = self.quirks
        for k in q.refuse:
            if body.get(k):  # asked for (false, 0, {} ask for nothing)
                raise bad_request(
                    f"`{k}` is not supported by this model's provider ({self.name})", k
                )
        if q.single_choice and body.get("n") not in (None, 1):
            raise bad_request(f"this model's provider ({self.name}) supports only n=1", "n")
        out = {k: v for k, v in body.items() if k not in q.drop}
        for old, new in q.rename.items():
            if old in out:
                value = out.pop(old)
                out.setdefault(new, value)
        if q.only is not None:
            out = {k: v for k, v in out.items() if k in q.only}
        if not q.message_names and isinstance(out.get("messages"), list):
            out["messages"] = [
                {k: v for k, v in m.items() if k != "name"} if isinstance(m, dict) else m
                for m in out["messages"]
            ]
        return out

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        req = super().chat_request(conf, self._adjust(body), model, stream)
        if not self.quirks.stream_usage:
            req.body.pop("stream_options", None)
        return req

    def chat_response(self, body: dict[str, Any], model: str) -> Answer:
        return Answer(body, usage_of(body.get("usage")))

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        if not self.quirks.embeddings:
            raise no_embeddings(self.name, body.get("model"))
        return super().embeddings_request(conf, self._adjust(body), model)

    def chat_stream(self, model: str) -> PresetStream:
        return PresetStream()
