"""ConverseStream (`POST /model/{modelId}/converse-stream`): AWS's binary event stream ->
OpenAI `chat.completion.chunk` dicts.

The answer is `application/vnd.amazon.eventstream`, not SSE: length-prefixed frames with
typed headers and CRCs. `EventStreamDecoder` reads them with botocore's parser as bytes
arrive and hands each on as (name, payload): the `:event-type` of an event (`messageStart`,
`contentBlockStart`, `contentBlockDelta`, `contentBlockStop`, `messageStop`, `metadata`),
the `:exception-type` of an exception (`throttlingException`, ...). `ConverseStream`
translates those; an answer is complete only once `messageStop` and `metadata` (the usage)
have both arrived.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
from botocore.eventstream import EventStreamBuffer, ParserError

from aigw.ids import hex_id
from aigw.providers.bedrock.converse import finish_reason, usage_of
from aigw.providers.bedrock.errors import stream_exception
from aigw.types import GatewayError, Usage

# A protocol-level error frame (`:message-type: error`) has no event name of its own.
ERROR_FRAME = ":error"


class EventStreamDecoder:
    """Feed raw bytes as they arrive; get (name, payload) for each complete frame."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = EventStreamBuffer()

    def feed(self, chunk: bytes) -> Iterator[tuple[str | None, bytes]]:
        self._buf.add_data(chunk)
        try:
            for msg in self._buf:
                h = msg.headers
                kind = h.get(":message-type")
                if kind == "event":
                    yield h.get(":event-type"), msg.payload
                elif kind == "exception":
                    yield h.get(":exception-type") or "exception", msg.payload
                elif kind == "error":
                    text = f"{h.get(':error-code') or 'error'}: {h.get(':error-message') or ''}"
                    yield ERROR_FRAME, text.encode()
        except ParserError as e:  # a bad CRC or length: the rest of the stream is unreadable
            raise GatewayError(
                502,
                f"bedrock: unreadable event stream ({type(e).__name__})",
                "api_error",
                "bad_upstream_response",
                retryable=True,
            ) from None

    def flush(self) -> Iterator[tuple[str | None, bytes]]:
        """The body ended. A partial frame left in the buffer is a cut stream, which the
        translator reports (no `messageStop`/`metadata` seen)."""
        return iter(())


class ConverseStream:
    """ConverseStream events -> OpenAI chunks, one stream per instance."""

    __slots__ = ("_created", "_id", "_model", "_stopped", "_tools", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._id = f"chatcmpl-{hex_id(12)}"
        self._model = model
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # contentBlockIndex of a toolUse -> OpenAI index
        self._stopped = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if event == ERROR_FRAME:
            raise GatewayError(
                502,
                f"bedrock: stream error: {data.decode('utf-8', 'replace')[:200]}",
                "api_error",
                "upstream_error",
                retryable=True,
            )
        try:
            ev = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            ev = None
        if not isinstance(ev, dict):
            raise GatewayError(
                502, "bedrock: unreadable stream event", "api_error", "bad_upstream_response"
            )
        if event == "contentBlockDelta":
            delta = ev.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": str(delta["text"])})]
            if "toolUse" in delta:
                idx = self._tools.get(ev.get("contentBlockIndex", -1))
                args = (delta["toolUse"] or {}).get("input") or ""
                if idx is None or not args:
                    return []
                return [
                    self._chunk({"tool_calls": [{"index": idx, "function": {"arguments": args}}]})
                ]
            if "reasoningContent" in delta:
                text = (delta["reasoningContent"] or {}).get("text")
                return [self._chunk({"reasoning_content": str(text)})] if text else []
            return []
        if event == "contentBlockStart":
            use = (ev.get("start") or {}).get("toolUse")
            if not isinstance(use, dict):
                return []
            n = len(self._tools)
            self._tools[ev.get("contentBlockIndex", n)] = n
            call = {
                "index": n,
                "id": use.get("toolUseId"),
                "type": "function",
                "function": {"name": use.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if event == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if event == "messageStop":
            self._stopped = True
            return [self._chunk({}, finish_reason(ev.get("stopReason")))]
        if event == "metadata":
            self.usage = usage_of(ev.get("usage"))
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = self.usage.to_openai()
            return [chunk]
        if event and event.endswith("Exception"):
            raise stream_exception(event, ev)
        return []  # contentBlockStop and events added later: nothing to tell the client

    def close(self) -> list[dict[str, Any]]:
        if not self._stopped or self.usage is None:
            raise GatewayError(
                502,
                "bedrock: the stream ended before the message was complete",
                "api_error",
                "upstream_stream_truncated",
            )
        return []
