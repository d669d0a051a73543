"""One POST /v1/responses: the client's request, its input items, the conversation before
it, and (once written) the answer, shared by the route, the stage and the framing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aigw.ids import hex_id


def new_id(prefix: str) -> str:
    return f"{prefix}_{hex_id(24)}"


def input_items(inp: Any) -> list[dict[str, Any]]:
    """The request's `input` as the items GET /v1/responses/{id}/input_items lists: each
    message with an id, a status and its content as parts."""
    if isinstance(inp, str):
        inp = [{"role": "user", "content": inp}]
    out = []
    for item in inp:
        item = dict(item)
        kind = item.setdefault("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, str):
                part = "output_text" if item.get("role") == "assistant" else "input_text"
                item["content"] = [{"type": part, "text": content}]
            item.setdefault("id", new_id("msg"))
            item.setdefault("status", "completed")
        elif kind == "function_call_output":
            item.setdefault("id", new_id("fco"))
            item.setdefault("status", "completed")
        elif kind == "function_call":
            item.setdefault("id", new_id("fc"))
            item.setdefault("status", "completed")
        out.append(item)
    return out


@dataclass(slots=True)
class Turn:
    request: dict[str, Any]  # the client's body, checked
    needs_openai: bool  # built-in tools or a hosted tool_choice: only OpenAI may answer
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    input: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # previous turns' items
    response: dict[str, Any] | None = None  # the answer as the client got it
    events: Any = None  # a stream's ResponseEvents (numbering), for an error at its end

    @property
    def store(self) -> bool:
        return self.request.get("store") is not False

    def upstream_request(self, model: str, stream: bool) -> dict[str, Any]:
        """The request for an OpenAI upstream: the whole conversation as input (the
        gateway keeps it, so any provider may answer any turn), stored there not at all."""
        out = {k: v for k, v in self.request.items() if k != "previous_response_id"}
        out["model"] = model
        items = (_for_upstream(i) for i in self.history + self.input)
        out["input"] = [i for i in items if i is not None]
        out["store"] = False
        out["stream"] = stream
        if stream:
            out.pop("stream_options", None)
        return out


def _for_upstream(item: dict[str, Any]) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind in ("message", "function_call", "function_call_output"):
        # Ids the gateway made mean nothing to OpenAI (store: false): sent without them.
        item = {k: v for k, v in item.items() if k != "id"}
        if kind == "message" and item.get("role") != "assistant":
            item.pop("status", None)
        return item
    if kind == "reasoning" and not item.get("encrypted_content"):
        return None  # only its encrypted form can be handed back to a stateless call
    return item
