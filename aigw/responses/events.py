"""Chat completion chunks in, the Responses API's stream events out, numbered by
`sequence_number`: response.created, response.in_progress, per output item
output_item.added, (content_part.added, output_text.delta..., output_text.done,
content_part.done) or (function_call_arguments.delta..., .done), output_item.done, then
response.completed / response.incomplete, or `error` and response.failed."""

from __future__ import annotations

from typing import Any

from aigw.responses import translate as tr
from aigw.responses.turn import Turn, new_id
from aigw.types import GatewayError

Event = dict[str, Any]


def _part(item_type: str, text: str) -> dict[str, Any]:
    """The one content part of a message or reasoning item."""
    if item_type == "message":
        return tr.output_text(text)
    return {"type": "reasoning_text", "text": text}


class ResponseEvents:
    def __init__(self, turn: Turn, model: str) -> None:
        self.turn = turn
        self.model = model
        self.seq = 0
        self.started = False
        self.output: list[dict[str, Any]] = []  # items, in output order
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.text: list[str] = []  # the open item's text (message or reasoning)
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool_calls index -> item
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None

    def _ev(self, type_: str, **fields: Any) -> Event:
        ev = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        return ev

    def _message(self) -> dict[str, Any]:
        return {
            "id": new_id("msg"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }

    def _start(self) -> list[Event]:
        self.started = True
        snap = tr.response(self.turn, self.model, "in_progress", [], None)
        return [
            self._ev("response.created", response=snap),
            self._ev("response.in_progress", response=snap),
        ]

    def _add(self, item: dict[str, Any]) -> list[Event]:
        events = self._close()
        self.output.append(item)
        self.open = item
        self.text = []
        idx = len(self.output) - 1
        events.append(self._ev("response.output_item.added", output_index=idx, item=dict(item)))
        if item["type"] in ("message", "reasoning"):
            at = {"item_id": item["id"], "output_index": idx, "content_index": 0}
            events.append(
                self._ev("response.content_part.added", **at, part=_part(item["type"], ""))
            )
        return events

    def _close(self, status: str = "completed") -> list[Event]:
        item, self.open = self.open, None
        if item is None:
            return []
        idx = self.output.index(item)
        events: list[Event] = []
        text = "".join(self.text)
        if item["type"] in ("message", "reasoning"):
            # The text's own `done`, then its part's.
            at = {"item_id": item["id"], "output_index": idx, "content_index": 0}
            if item["type"] == "message":
                events.append(self._ev("response.output_text.done", **at, text=text, logprobs=[]))
            else:
                events.append(self._ev("response.reasoning_text.done", **at, text=text))
            part = _part(item["type"], text)
            events.append(self._ev("response.content_part.done", **at, part=part))
            item["content"] = [part]
        elif item["type"] == "function_call":
            events.append(
                self._ev(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=idx,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        if item["type"] != "reasoning":
            item["status"] = status
        events.append(self._ev("response.output_item.done", output_index=idx, item=dict(item)))
        return events

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = [] if self.started else self._start()
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if reasoning:
                if self.open is None or self.open["type"] != "reasoning":
                    events += self._add({"id": new_id("rs"), "type": "reasoning", "summary": []})
                self.text.append(reasoning)
                events.append(
                    self._ev(
                        "response.reasoning_text.delta",
                        item_id=self.open["id"],  # type: ignore[index]
                        output_index=len(self.output) - 1,
                        content_index=0,
                        delta=reasoning,
                    )
                )
            text = delta.get("content")
            if text:
                if self.open is None or self.open["type"] != "message":
                    events += self._add(self._message())
                self.text.append(text)
                events.append(
                    self._ev(
                        "response.output_text.delta",
                        item_id=self.open["id"],  # type: ignore[index]
                        output_index=len(self.output) - 1,
                        content_index=0,
                        delta=text,
                        logprobs=[],
                    )
                )
            for tc in delta.get("tool_calls") or ():
                n = tc.get("index", 0)
                fn = tc.get("function") or {}
                item = self.calls.get(n)
                if item is None:
                    item = tr.function_call_item(
                        tc.get("id") or new_id("call"), fn.get("name") or "", "", "in_progress"
                    )
                    self.calls[n] = item
                    events += self._add(item)
                args = fn.get("arguments")
                if args:
                    item["arguments"] += args
                    events.append(
                        self._ev(
                            "response.function_call_arguments.delta",
                            item_id=item["id"],
                            output_index=self.output.index(item),
                            delta=args,
                        )
                    )
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return events

    def close(self) -> list[Event]:
        """The stream completed: close the open item, then the whole response."""
        events = [] if self.started else self._start()
        status, incomplete = tr.status_of(self.finish)
        if not any(i["type"] in ("message", "function_call") for i in self.output):
            # No text and no call: an empty message, as the whole answer would have.
            events += self._add(self._message())
        events += self._close("incomplete" if status == "incomplete" else "completed")
        output = self.output
        resp = tr.response(self.turn, self.model, status, output, tr.usage(self.usage), incomplete)
        self.turn.response = resp
        name = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._ev(name, response=resp))
        return events

    def fail(self, e: GatewayError) -> list[Event]:
        """The stream was cut short: an `error` event, then response.failed."""
        events = [] if self.started else self._start()
        events.append(self._ev("error", code=e.code or e.type, message=e.message, param=e.param))
        # response.error.code is one of OpenAI's few codes.
        err = {
            "code": "rate_limit_exceeded" if e.status == 429 else "server_error",
            "message": e.message,
        }
        resp = tr.response(self.turn, self.model, "failed", self.output, None, error=err)
        events.append(self._ev("response.failed", response=resp))
        return events
