"""Responses <-> chat completions, pure functions (no I/O), like the provider adapters.

A Responses request (with the conversation before it) becomes a chat body that every
provider adapter understands; a chat completion becomes the Responses `output` items,
status and usage. OpenAI's built-in tools have no chat form: such requests reach only an
OpenAI upstream (`needs_openai`), and their items are left out of a translated conversation.
"""

from __future__ import annotations

from typing import Any

from aigw.responses.turn import Turn, new_id

# Responses sampling parameters that chat spells the same way.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "stream")


def to_chat(turn: Turn, stream: bool) -> dict[str, Any]:
    req = turn.request
    body: dict[str, Any] = {"model": req["model"], "messages": messages(turn)}
    for k in _SAME:
        if req.get(k) is not None:
            body[k] = req[k]
    body["stream"] = stream
    if req.get("max_output_tokens") is not None:
        body["max_completion_tokens"] = req["max_output_tokens"]
    tools = [chat_tool(t) for t in req.get("tools") or () if t.get("type") == "function"]
    if tools:
        body["tools"] = tools
    tc = req.get("tool_choice")
    if isinstance(tc, str):
        body["tool_choice"] = tc
    elif isinstance(tc, dict) and tc.get("type") == "function":
        body["tool_choice"] = {"type": "function", "function": {"name": tc["name"]}}
    fmt = (req.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if k in fmt}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    effort = (req.get("reasoning") or {}).get("effort")
    if effort is not None:
        body["reasoning_effort"] = effort
    return body


def chat_tool(t: dict[str, Any]) -> dict[str, Any]:
    fn = {k: t[k] for k in ("name", "description", "parameters", "strict") if t.get(k) is not None}
    return {"type": "function", "function": fn}


def messages(turn: Turn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if turn.request.get("instructions"):
        out.append({"role": "system", "content": turn.request["instructions"]})
    for item in turn.history + turn.input:
        kind = item.get("type", "message")
        if kind == "message":
            msg = _message(item)
            if msg is not None:
                out.append(msg)
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments") or ""},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(p.get("text") or "" for p in output)
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
        # reasoning and built-in tool items have no chat form: the answer they led to is
        # in the conversation's messages
    return out


def _message(item: dict[str, Any]) -> dict[str, Any] | None:
    role = item["role"]
    content = item.get("content")
    chat_role = "system" if role == "developer" else role
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    if role == "assistant":
        text = "".join(
            p.get("text") or p.get("refusal") or "" for p in content or () if isinstance(p, dict)
        )
        return {"role": "assistant", "content": text}
    parts: list[dict[str, Any]] = []
    for p in content or ():
        if p.get("type") == "input_image":
            url: dict[str, Any] = {"url": p["image_url"]}
            if p.get("detail"):
                url["detail"] = p["detail"]
            parts.append({"type": "image_url", "image_url": url})
        else:
            parts.append({"type": "text", "text": p.get("text") or ""})
    if all(p["type"] == "text" for p in parts):
        return {"role": chat_role, "content": "".join(p["text"] for p in parts)}
    return {"role": chat_role, "content": parts}


# --- answers -------------------------------------------------------------------------------


def usage(u: dict[str, Any] | None) -> dict[str, Any] | None:
    """A chat `usage` in the Responses form."""
    if not u:
        return None
    prompt = u.get("prompt_tokens_details") or {}
    completion = u.get("completion_tokens_details") or {}
    inp, out = int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0)
    return {
        "input_tokens": inp,
        "input_tokens_details": {
            "cached_tokens": int(prompt.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt.get("cache_write_tokens") or 0),
        },
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": int(u.get("total_tokens") or inp + out),
    }


def status_of(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def message_item(text: str, status: str = "completed", id_: str | None = None) -> dict[str, Any]:
    return {
        "id": id_ or new_id("msg"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [output_text(text)],
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(
    call_id: str, name: str, arguments: str, status: str = "completed", id_: str | None = None
) -> dict[str, Any]:
    return {
        "id": id_ or new_id("fc"),
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def reasoning_item(text: str, id_: str | None = None) -> dict[str, Any]:
    return {
        "id": id_ or new_id("rs"),
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


def output_of(completion: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """A chat completion's first choice as Responses output items (reasoning, the message,
    then the function calls), and its finish reason."""
    choice = (completion.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    items: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content")
    if reasoning:
        items.append(reasoning_item(reasoning))
    text = msg.get("content")
    if isinstance(text, list):  # content parts, as some upstreams answer
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if text or not msg.get("tool_calls"):
        items.append(message_item(text or ""))
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        items.append(
            function_call_item(
                tc.get("id") or new_id("call"), fn.get("name") or "", fn.get("arguments") or ""
            )
        )
    return items, choice.get("finish_reason")


def response(
    turn: Turn,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage_: dict[str, Any] | None,
    incomplete: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `response` object, echoing the request's parameters as OpenAI does."""
    req = turn.request
    fmt = (req.get("text") or {}).get("format") or {"type": "text"}
    reasoning = req.get("reasoning") or {}
    return {
        "id": turn.id,
        "object": "response",
        "created_at": turn.created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "max_tool_calls": req.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": req.get("parallel_tool_calls", True),
        "previous_response_id": req.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": turn.store,
        "temperature": req.get("temperature", 1.0),
        "text": {"format": fmt},
        "tool_choice": req.get("tool_choice", "auto"),
        "tools": req.get("tools") or [],
        "top_p": req.get("top_p", 1.0),
        "truncation": req.get("truncation", "disabled"),
        "usage": usage_,
        "user": req.get("user"),
        "metadata": req.get("metadata") or {},
    }


def from_chat(turn: Turn, model: str, completion: dict[str, Any]) -> dict[str, Any]:
    items, finish = output_of(completion)
    status, incomplete = status_of(finish)
    if status == "incomplete":
        for item in items:
            if item["type"] in ("message", "function_call"):
                item["status"] = "incomplete"
    return response(turn, model, status, items, usage(completion.get("usage")), incomplete)
