"""The Anthropic-compatible inbound API (`POST /v1/messages`): pure translation.

A Messages request becomes an OpenAI chat body, so it takes the gateway's one way through
(auth, limits, cache, routing, any provider); the OpenAI answer, or its chunk stream, becomes
an Anthropic message, or Anthropic's SSE event sequence. No I/O here: the handler is
`server/routes/messages.py`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from aigw.providers.anthropic.errors import invalid

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# --- request: Anthropic -> OpenAI ----------------------------------------------------------


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    src = block.get("source")
    if not isinstance(src, dict):
        raise invalid(f"{where}.source: Input should be an object")
    if src.get("type") == "base64":
        url = f"data:{src.get('media_type') or 'image/png'};base64,{src.get('data') or ''}"
    elif src.get("type") == "url" and src.get("url"):
        url = src["url"]
    else:
        raise invalid(f"{where}.source: only base64 and url image sources are supported")
    return {"type": "image_url", "image_url": {"url": url}}


def _source_type(block: dict[str, Any]) -> Any:
    src = block.get("source")
    return src.get("type") if isinstance(src, dict) else None


def _text_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """OpenAI content from parts: a plain string when it is one text (the most portable)."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"{where}.content: Input should be a valid string or list")
    for j, b in enumerate(content):
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            raise invalid(f"{where}.content.{j}: Input should be a content block object")
    return content


def _tool_result_content(content: Any) -> str | list[dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for b in content if isinstance(content, list) else []:
        if isinstance(b, dict) and b.get("type") == "text":
            parts.append({"type": "text", "text": b.get("text") or ""})
    return _text_content(parts) if parts else ""


def convert_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: Field required (a non-empty list)")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(m, dict):
            raise invalid(f"{where}: Input should be an object")
        role = m.get("role")
        blocks = _blocks(m.get("content"), where)
        if role == "user":
            parts: list[dict[str, Any]] = []
            for j, b in enumerate(blocks):
                kind = b["type"]
                if kind == "text":
                    parts.append({"type": "text", "text": b.get("text") or ""})
                elif kind == "image":
                    parts.append(_image_part(b, f"{where}.content.{j}"))
                elif kind == "tool_result":
                    # Tool results answer the previous turn's calls: they come first.
                    out.append(
                        {
                            "role": "tool",
                            "tool_call_id": b.get("tool_use_id") or "",
                            "content": _tool_result_content(b.get("content")),
                        }
                    )
                elif kind == "document" and _source_type(b) == "text":
                    parts.append({"type": "text", "text": b["source"].get("data") or ""})
                else:
                    raise invalid(f"{where}: content blocks of type {kind!r} are not supported")
            if parts:
                out.append({"role": "user", "content": _text_content(parts)})
        elif role == "assistant":
            texts: list[str] = []
            calls: list[dict[str, Any]] = []
            for b in blocks:
                kind = b["type"]
                if kind == "text":
                    texts.append(b.get("text") or "")
                elif kind == "tool_use":
                    calls.append(
                        {
                            "id": b.get("id") or "",
                            "type": "function",
                            "function": {
                                "name": b.get("name") or "",
                                "arguments": orjson.dumps(b.get("input") or {}).decode(),
                            },
                        }
                    )
                elif kind in ("thinking", "redacted_thinking"):
                    continue  # the model's own scratchpad: no OpenAI equivalent to send back
                else:
                    raise invalid(f"{where}: content blocks of type {kind!r} are not supported")
            # Several text blocks stay several parts: joining them would lose the boundary.
            content: Any = (
                [{"type": "text", "text": t} for t in texts] if len(texts) > 1 else "".join(texts)
            )
            msg: dict[str, Any] = {"role": "assistant", "content": content or None}
            if calls:
                msg["tool_calls"] = calls
            elif msg["content"] is None:
                msg["content"] = ""
            out.append(msg)
        else:
            raise invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    return out


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    out = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or not t.get("name") or "input_schema" not in t:
            raise invalid(
                f"tools.{i}: only custom tools with a name and an input_schema are supported"
            )
        fn: dict[str, Any] = {"name": t["name"], "parameters": t["input_schema"]}
        if t.get("description"):
            fn["description"] = t["description"]
        out.append({"type": "function", "function": fn})
    return out


def convert_tool_choice(tc: Any) -> Any:
    kind = tc.get("type") if isinstance(tc, dict) else None
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and tc.get("name"):
        return {"type": "function", "function": {"name": tc["name"]}}
    raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request -> an OpenAI chat request body."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: Field required (a positive integer)")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream: Input should be a valid boolean")
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str):
        if system:
            messages.append({"role": "system", "content": system})
    elif isinstance(system, list):
        messages.extend(
            {"role": "system", "content": b.get("text") or ""}
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    elif system is not None:
        raise invalid("system: Input should be a valid string or list of text blocks")
    messages.extend(convert_messages(body.get("messages")))
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    for k in ("temperature", "top_p"):
        if body.get(k) is not None:
            out[k] = body[k]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise invalid("stop_sequences: Input should be a valid list of strings")
        if stops:
            out["stop"] = list(stops)
    tc = body.get("tool_choice")
    if tc is not None and not isinstance(tc, dict):
        raise invalid("tool_choice: Input should be an object")
    if body.get("tools"):
        out["tools"] = convert_tools(body["tools"])
        if tc is not None:
            out["tool_choice"] = convert_tool_choice(tc)
            if tc.get("disable_parallel_tool_use"):
                out["parallel_tool_calls"] = False
    meta = body.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise invalid("metadata: Input should be an object")
    user = (meta or {}).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


# --- response: OpenAI -> Anthropic ---------------------------------------------------------


def usage_to_anthropic(u: dict[str, Any] | None) -> dict[str, int]:
    u = u or {}
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {
        "input_tokens": max(0, int(u.get("prompt_tokens") or 0) - cached),
        "output_tokens": int(u.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def _tool_input(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message_id(openai_id: Any) -> str:
    s = str(openai_id or "")
    return s if s.startswith("msg_") else "msg_" + (s or uuid.uuid4().hex)


def to_message(completion: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI `chat.completion` -> an Anthropic `message`."""
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = msg.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for tc in msg.get("tool_calls") or []:
        fn = tc.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": tc.get("id") or "toolu_" + uuid.uuid4().hex[:24],
                "name": fn.get("name") or "",
                "input": _tool_input(fn.get("arguments")),
            }
        )
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": usage_to_anthropic(completion.get("usage")),
    }


def native_message(native: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic upstream's own message, as the client gets it: with the model name the
    client asked for."""
    return {**native, "model": model}


def native_events(events: list[tuple[str | None, bytes]], model: str) -> bytes:
    """An Anthropic upstream's own stream events, framed for the client as they came (the
    `message_start` with the model name the client asked for)."""
    out = []
    for name, data in events:
        kind = name or "message"
        if kind == "message_start":
            ev = orjson.loads(data)
            ev.setdefault("message", {})["model"] = model
            data = orjson.dumps(ev)
        out.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")
    return b"".join(out)


def completion_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole OpenAI answer as the chunks that would have streamed it (a cache hit or an
    upstream that answered a stream request with JSON)."""
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    base = {"id": completion.get("id"), "object": "chat.completion.chunk"}
    delta: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or ""}
    if msg.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(msg["tool_calls"])]
    return [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}],
        },
        {**base, "choices": [], "usage": completion.get("usage")},
    ]


# --- stream: OpenAI chunks -> Anthropic events ---------------------------------------------

Event = tuple[str, dict[str, Any]]


class MessageEvents:
    """OpenAI `chat.completion.chunk`s in, Anthropic stream events out: `message_start`,
    `content_block_start/delta/stop` per text or tool_use block, `message_delta` with the
    stop reason and usage, `message_stop`. The OpenAI stream reports usage after its finish
    chunk, so `message_delta` is held back until the stream ends."""

    __slots__ = ("_block", "_model", "_next", "_open", "_started", "_stop", "_tools", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._open: int | None = None  # index of the content block being written
        self._block: str | None = None  # its kind: "text" | "tool_use"
        self._next = 0
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> content block index
        self._stop: str | None = None
        self._usage: dict[str, Any] | None = None

    def _start(self, chunk: dict[str, Any]) -> list[Event]:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        idx, self._open, self._block = self._open, None, None
        return [("content_block_stop", {"type": "content_block_stop", "index": idx})]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[Event]:
        events = self._close_block()
        self._open, self._block = self._next, kind
        self._next += 1
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._open, "content_block": block},
            )
        )
        return events

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = [] if self._started else self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if self._block != "text":
                    events += self._open_block("text", {"type": "text", "text": ""})
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": self._open,
                            "delta": {"type": "text_delta", "text": text},
                        },
                    )
                )
            for tc in delta.get("tool_calls") or []:
                n = tc.get("index", 0)
                fn = tc.get("function") or {}
                if n not in self._tools:
                    block: dict[str, Any] = {
                        "type": "tool_use",
                        "id": tc.get("id") or "toolu_" + uuid.uuid4().hex[:24],
                        "name": fn.get("name") or "",
                        "input": {},
                    }
                    events += self._open_block("tool_use", block)
                    self._tools[n] = self._open  # type: ignore[assignment]
                if fn.get("arguments"):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": self._tools[n],
                                "delta": {
                                    "type": "input_json_delta",
                                    "partial_json": fn["arguments"],
                                },
                            },
                        )
                    )
            if choice.get("finish_reason"):
                self._stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return events

    def close(self) -> list[Event]:
        events = [] if self._started else self._start({})
        events += self._close_block()
        usage = usage_to_anthropic(self._usage)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop or "end_turn", "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
