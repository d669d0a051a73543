"""OpenAI answers built from a translation: a whole `chat.completion`, or stream chunks."""

from __future__ import annotations

import time
from typing import Any

from aigw.types import Usage


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


class ChunkBuilder:
    """`chat.completion.chunk` dicts of one stream: its id, created time and model, one
    choice at index 0."""

    __slots__ = ("created", "id", "model")

    def __init__(self, id_: str, model: str) -> None:
        self.id = id_
        self.model = model
        self.created = int(time.time())

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def usage(self, usage: Usage) -> dict[str, Any]:
        """The usage-only chunk OpenAI sends last when `stream_options.include_usage` is on."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.to_openai(),
        }
