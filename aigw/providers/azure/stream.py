"""Azure OpenAI's chat stream -> OpenAI chunks.

Azure's stream is OpenAI's with content-filter annotations mixed in: a first chunk with
empty `id`/`model`, `choices: []` and the prompt's `prompt_filter_results`; annotation
chunks (again without id) carrying `content_filter_results` and offsets but no delta; and,
when the output is filtered, a last such chunk with `finish_reason: "content_filter"`. OpenAI
clients get OpenAI chunks: the prompt's results ride on the first real chunk, annotations
without news are left out, and a filtered ending becomes a normal finish chunk (keeping its
`content_filter_results`).
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.common.errors import unreadable_event
from aigw.providers.openai.adapter import stream_error
from aigw.types import Usage


class AzureStream:
    __slots__ = ("_created", "_id", "_model", "_prompt_filter", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._id = ""
        self._model = model
        self._created = 0
        self._prompt_filter: Any = None

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if data == b"[DONE]" or not data:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise unreadable_event("azure") from None
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk and "choices" not in chunk:
            raise stream_error(chunk["error"])
        u = chunk.get("usage")
        if isinstance(u, dict):
            self.usage = Usage.from_openai(u)
        if chunk.get("id"):  # a model chunk: OpenAI's shape already
            self._id = chunk["id"]
            self._model = chunk.get("model") or self._model
            self._created = chunk.get("created") or self._created
            if self._prompt_filter is not None:
                chunk["prompt_filter_results"] = self._prompt_filter
                self._prompt_filter = None
            return [chunk]
        # Azure's own annotation chunks.
        if chunk.get("prompt_filter_results") is not None:
            self._prompt_filter = chunk["prompt_filter_results"]
        finished = [
            c for c in chunk.get("choices") or () if isinstance(c, dict) and c.get("finish_reason")
        ]
        if not finished:
            return []
        return [
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [
                    {
                        "index": c.get("index", 0),
                        "delta": {},
                        "logprobs": None,
                        "finish_reason": c["finish_reason"],
                        "content_filter_results": c.get("content_filter_results"),
                    }
                    for c in finished
                ],
            }
        ]

    def close(self) -> list[dict[str, Any]]:
        return []
