"""Cohere v2 stream events -> OpenAI `chat.completion.chunk` dicts."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.cohere.chat import finish_reason, usage_of
from aigw.providers.common.chunks import ChunkBuilder
from aigw.providers.common.errors import stream_truncated, unreadable_event
from aigw.types import GatewayError, Usage


class CohereStream:
    """Cohere v2 stream events -> OpenAI `chat.completion.chunk` dicts."""

    __slots__ = ("_finished", "_out", "_tools", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._out = ChunkBuilder("chat", model)
        self._tools: dict[int, int] = {}  # Cohere tool-call index -> OpenAI index
        self._finished = False

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if not data or data == b"[DONE]":
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise unreadable_event("cohere") from None
        kind = ev.get("type") or event
        message = ((ev.get("delta") or {}).get("message")) or {}
        if kind == "content-delta":
            content = message.get("content") or {}
            if "thinking" in content and "text" not in content:
                return [self._out.delta({"reasoning_content": content.get("thinking") or ""})]
            return [self._out.delta({"content": content.get("text") or ""})]
        if kind == "tool-plan-delta":
            return [self._out.delta({"content": message.get("tool_plan") or ""})]
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            fn = call.get("function") or {}
            n = len(self._tools)
            self._tools[ev.get("index", n)] = n
            out = {
                "index": n,
                "id": call.get("id"),
                "type": "function",
                "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or ""},
            }
            return [self._out.delta({"tool_calls": [out]})]
        if kind == "tool-call-delta":
            args = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            idx = self._tools.get(ev.get("index", -1))
            if idx is None or not args:
                return []
            return [
                self._out.delta({"tool_calls": [{"index": idx, "function": {"arguments": args}}]})
            ]
        if kind == "message-start":
            self._out.id = ev.get("id") or self._out.id
            return [self._out.delta({"role": "assistant", "content": ""})]
        if kind == "message-end":
            delta = ev.get("delta") or {}
            self._finished = True
            if delta.get("error"):
                raise GatewayError(
                    502, f"cohere: {delta['error']}", "api_error", "upstream_error", retryable=True
                )
            self.usage = usage_of(delta.get("usage"))
            return [
                self._out.delta({}, finish_reason(delta.get("finish_reason"))),
                self._out.usage(self.usage),
            ]
        # content-start/-end, tool-call-end, citation-*, debug: nothing to tell the client
        return []

    def close(self) -> list[dict[str, Any]]:
        if not self._finished:
            raise stream_truncated("cohere")
        return []
