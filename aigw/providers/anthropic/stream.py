"""Anthropic's SSE events -> OpenAI `chat.completion.chunk` dicts (and the usage they report:
`message_start` has the input counts, `message_delta` the cumulative totals)."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.anthropic.errors import stream_error
from aigw.providers.anthropic.response import finish_reason, usage_of
from aigw.providers.common.chunks import ChunkBuilder
from aigw.providers.common.errors import stream_truncated, unreadable_event
from aigw.types import Usage


class AnthropicStream:
    """Anthropic SSE events -> OpenAI `chat.completion.chunk` dicts."""

    __slots__ = ("_args_seen", "_finished", "_out", "_tools", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._out = ChunkBuilder("msg", model)
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool_calls index
        self._args_seen: set[int] = set()
        self._finished = False

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if not data:
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise unreadable_event("anthropic") from None
        if not isinstance(ev, dict):
            raise unreadable_event("anthropic")
        return self._translate(ev.get("type") or event or "", ev)

    def _translate(self, kind: str, ev: dict[str, Any]) -> list[dict[str, Any]]:
        if kind == "content_block_delta":
            delta = ev.get("delta") or {}
            dk = delta.get("type")
            if dk == "text_delta":
                return [self._out.delta({"content": delta.get("text") or ""})]
            if dk == "input_json_delta":
                idx = ev.get("index", 0)
                part = delta.get("partial_json") or ""
                if idx not in self._tools or not part:
                    return []
                self._args_seen.add(idx)
                return [
                    self._out.delta(
                        {
                            "tool_calls": [
                                {"index": self._tools[idx], "function": {"arguments": part}}
                            ]
                        }
                    )
                ]
            if dk == "thinking_delta":
                return [self._out.delta({"reasoning_content": delta.get("thinking") or ""})]
            return []  # signature_delta, citations_delta: nothing for an OpenAI client
        if kind == "content_block_start":
            block = ev.get("content_block") or {}
            idx = ev.get("index", 0)
            if block.get("type") == "tool_use":
                n = len(self._tools)
                self._tools[idx] = n
                call = {
                    "index": n,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._out.delta({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._out.delta({"content": block["text"]})]
            return []
        if kind == "content_block_stop":
            idx = ev.get("index", 0)
            if idx in self._tools and idx not in self._args_seen:
                # A tool called without arguments: OpenAI clients expect a JSON object.
                tool = {"index": self._tools[idx], "function": {"arguments": "{}"}}
                return [self._out.delta({"tool_calls": [tool]})]
            return []
        if kind == "message_start":
            msg = ev.get("message") or {}
            self._out.id = msg.get("id") or self._out.id
            self._out.model = msg.get("model") or self._out.model
            self.usage = usage_of(msg.get("usage"))
            return [self._out.delta({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            u = ev.get("usage") or {}
            usage = self.usage or Usage()
            if u:
                # Counts on message_delta are cumulative; absent ones keep message_start's.
                merged = {
                    "input_tokens": usage.prompt_tokens
                    - usage.cached_tokens
                    - usage.cache_creation_tokens,
                    "cache_read_input_tokens": usage.cached_tokens,
                    "cache_creation_input_tokens": usage.cache_creation_tokens,
                    "output_tokens": usage.completion_tokens,
                }
                merged.update({k: v for k, v in u.items() if v is not None and k in merged})
                usage = usage_of(merged)
            self.usage = usage
            stop = (ev.get("delta") or {}).get("stop_reason")
            if stop is None:
                return []
            self._finished = True
            return [self._out.delta({}, finish_reason(stop))]
        if kind == "message_stop":
            self._finished = True
            return [self._out.usage(self.usage or Usage())]
        if kind == "error":
            raise stream_error(ev)
        return []  # ping, and event types added later

    def close(self) -> list[dict[str, Any]]:
        if not self._finished:
            raise stream_truncated("anthropic")
        return []
