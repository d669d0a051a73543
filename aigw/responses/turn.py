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


# Items of OpenAI's server-side tools: their results are in the answer that followed, and a
# stateless call (store: false) cannot look their ids up; they are not sent back.
SERVER_SIDE_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "mcp_list_tools",
    }
)


def _for_upstream(item: dict[str, Any]) -> dict[str, Any] | None:
    """An item of the conversation as a stateless OpenAI call takes it back: without the
    ids only a stored conversation could resolve; an earlier answer (from any provider) as
    an assistant message with its text."""
    kind = item.get("type")
    if kind == "message":
        if item.get("role") == "assistant":
            content = item.get("content")
            if isinstance(content, list):
                content = "".join(
                    p.get("text") or p.get("refusal") or "" for p in content if isinstance(p, dict)
                )
            return {"type": "message", "role": "assistant", "content": content or ""}
        return {k: v for k, v in item.items() if k not in ("id", "status")}
    if kind in ("function_call", "function_call_output"):
        return {k: v for k, v in item.items() if k not in ("id", "status")}
    if kind == "reasoning" and not item.get("encrypted_content"):
        return None  # only its encrypted form can be handed back to a stateless call
    if kind in SERVER_SIDE_ITEMS:
        return None
    return item
