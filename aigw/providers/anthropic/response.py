"""An Anthropic message (and its usage) -> an OpenAI `chat.completion`.

Cache reads and writes count as prompt tokens, as OpenAI counts them; the typed `Usage`
keeps both apart so each is priced at its own rate.
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.base import Answer
from aigw.providers.common.chunks import chat_completion
from aigw.types import Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def usage_of(u: dict[str, Any] | None) -> Usage:
    u = u or {}
    cache_read = int(u.get("cache_read_input_tokens") or 0)
    cache_write = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(u.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=int(u.get("output_tokens") or 0),
        cached_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


def arguments_json(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def from_anthropic(body: dict[str, Any], model: str) -> Answer:
    """An Anthropic message -> an OpenAI `chat.completion`, its usage, and the message
    itself (what a /v1/messages client gets unchanged)."""
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in body.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": arguments_json(block.get("input")),
                    },
                }
            )
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
    usage = usage_of(body.get("usage"))
    completion = chat_completion(
        body.get("id") or "msg",
        body.get("model") or model,
        "".join(texts),
        tool_calls,
        "".join(thinking),
        finish_reason(body.get("stop_reason")) or "stop",
        usage,
    )
    return Answer(completion, usage, native=body)
