"""ConverseStream (`POST /model/{modelId}/converse-stream`): AWS's binary event stream ->
OpenAI `chat.completion.chunk` dicts.

The answer is `application/vnd.amazon.eventstream`, not SSE: length-prefixed frames with
typed headers and CRCs. `EventStreamDecoder` reads them with botocore's parser as bytes
arrive and hands each on as (name, payload): the `:event-type` of an event (`messageStart`,
`contentBlockStart`, `contentBlockDelta`, `contentBlockStop`, `messageStop`, `metadata`),
the `:exception-type` of an exception (`throttlingException`, ...) (eventstream.py).
`ConverseStream` translates those; an answer is complete only once `messageStop` and
`metadata` (the usage) have both arrived.
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.ids import hex_id
from aigw.providers.bedrock.converse import finish_reason, usage_of
from aigw.providers.bedrock.errors import stream_exception
from aigw.providers.bedrock.eventstream import ERROR_FRAME
from aigw.providers.common.chunks import ChunkBuilder
from aigw.providers.common.errors import stream_truncated, unreadable_event
from aigw.types import GatewayError, Usage


class ConverseStream:
    """ConverseStream events -> OpenAI chunks, one stream per instance."""

    __slots__ = ("_out", "_stopped", "_tools", "_with_args", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._out = ChunkBuilder(f"chatcmpl-{hex_id(12)}", model)
        self._tools: dict[int, int] = {}  # contentBlockIndex of a toolUse -> OpenAI index
        self._with_args: set[int] = set()  # tool calls whose arguments have begun
        self._stopped = False

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
            raise unreadable_event("bedrock")
        if event == "contentBlockDelta":
            delta = ev.get("delta") or {}
            if "text" in delta:
                return [self._out.delta({"content": str(delta["text"])})]
            if "toolUse" in delta:
                idx = self._tools.get(ev.get("contentBlockIndex", -1))
                args = (delta["toolUse"] or {}).get("input") or ""
                if idx is None or not args:
                    return []
                self._with_args.add(idx)
                return [
                    self._out.delta(
                        {"tool_calls": [{"index": idx, "function": {"arguments": args}}]}
                    )
                ]
            if "reasoningContent" in delta:
                text = (delta["reasoningContent"] or {}).get("text")
                return [self._out.delta({"reasoning_content": str(text)})] if text else []
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
            return [self._out.delta({"tool_calls": [call]})]
        if event == "messageStart":
            return [self._out.delta({"role": "assistant", "content": ""})]
        if event == "messageStop":
            self._stopped = True
            return [self._out.delta({}, finish_reason(ev.get("stopReason")))]
        if event == "metadata":
            self.usage = usage_of(ev.get("usage"))
            return [self._out.usage(self.usage)]
        if event == "contentBlockStop":
            idx = self._tools.get(ev.get("contentBlockIndex", -1))
            if idx is None or idx in self._with_args:
                return []
            # A call without arguments streams none; `{}` is what the JSON answer says.
            self._with_args.add(idx)
            return [
                self._out.delta({"tool_calls": [{"index": idx, "function": {"arguments": "{}"}}]})
            ]
        if event and event.endswith("Exception"):
            raise stream_exception(event, ev)
        return []  # events added later: nothing to tell the client

    def close(self) -> list[dict[str, Any]]:
        if not self._stopped or self.usage is None:
            raise stream_truncated("bedrock")
        return []
