"""Cohere's v2 chat (`POST /v2/chat`) <-> OpenAI's: the request out, the answer back.

Chat v2 is close to OpenAI's shape (roles system/user/assistant/tool, OpenAI-style `tools`
and `tool_calls`), with these differences: sampling is `p`/`k`, stops are `stop_sequences`,
an assistant turn that calls tools carries its text as `tool_plan`, the answer is a list of
content blocks, `finish_reason` is COMPLETE/MAX_TOKENS/STOP_SEQUENCE/TOOL_CALL/ERROR, usage
is `billed_units` and `tokens`. The tool plan is given to OpenAI clients as the message's
content, streamed (stream.py) and not streamed alike.
"""

from __future__ import annotations

from typing import Any

from aigw.providers.base import Answer
from aigw.providers.common.chunks import chat_completion, text_of
from aigw.types import Usage, bad_request

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "stop",
    "ERROR_TOXIC": "content_filter",
    "CONTENT_BLOCKED": "content_filter",
    "ERROR_LIMIT": "length",
}


# --- request --------------------------------------------------------------------------


def user_content(content: Any) -> str | list[dict[str, Any]]:
    """OpenAI user content -> Cohere's: a string, or text and image_url parts."""
    if not isinstance(content, list):
        return text_of(content)
    parts: list[dict[str, Any]] = []
    for p in content:
        if not isinstance(p, dict):
            continue
        if p.get("type") in ("text", "input_text"):
            parts.append({"type": "text", "text": p.get("text") or ""})
        elif p.get("type") == "image_url":
            url = p.get("image_url")
            parts.append(
                {"type": "image_url", "image_url": url if isinstance(url, dict) else {"url": url}}
            )
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def convert_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text_of(m.get("content"))})
        elif role == "user":
            out.append({"role": "user", "content": user_content(m.get("content"))})
        elif role == "assistant":
            text = text_of(m.get("content"))
            calls = m.get("tool_calls") or []
            msg: dict[str, Any] = {"role": "assistant"}
            if calls:
                msg["tool_calls"] = [
                    {
                        "id": c.get("id") or "",
                        "type": "function",
                        "function": {
                            "name": (c.get("function") or {}).get("name") or "",
                            "arguments": (c.get("function") or {}).get("arguments") or "{}",
                        },
                    }
                    for c in calls
                ]
                if text:
                    msg["tool_plan"] = text
            else:
                msg["content"] = text
            out.append(msg)
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": m.get("tool_call_id") or "",
                    "content": text_of(m.get("content")),
                }
            )
        else:
            raise bad_request(f"unsupported message role {role!r}", "messages")
    return out


def convert_tool_choice(choice: Any) -> str | None:
    if choice is None or choice == "auto":
        return None
    if choice == "required" or isinstance(choice, dict):
        # Cohere cannot force one named tool; REQUIRED with only that tool offered is closest.
        return "REQUIRED"
    if choice == "none":
        return "NONE"
    raise bad_request("unsupported tool_choice", "tool_choice")


def to_cohere(body: dict[str, Any], model: str) -> dict[str, Any]:
    if (body.get("n") or 1) != 1:
        raise bad_request("this model's provider (cohere) supports only n=1", "n")
    out: dict[str, Any] = {"model": model, "messages": convert_messages(body.get("messages") or [])}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        out["max_tokens"] = max_tokens
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("top_k", "k"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ):
        if body.get(src) is not None:
            out[dst] = body[src]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        choice = body.get("tool_choice")
        if isinstance(choice, dict):  # offer only the tool the client named
            name = (choice.get("function") or {}).get("name")
            tools = [t for t in tools if (t.get("function") or {}).get("name") == name] or tools
        out["tools"] = [
            {"type": "function", "function": t["function"]}
            for t in tools
            if isinstance(t.get("function"), dict)
        ]
        tc = convert_tool_choice(choice)
        if tc:
            out["tool_choice"] = tc
    rf = body.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(rf, dict) and rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        out["response_format"] = {"type": "json_object", "json_schema": schema}
    return out


# --- chat response -------------------------------------------------------------------------


def usage_of(u: dict[str, Any] | None) -> Usage:
    """Cohere usage -> Usage. `tokens` counts what the model saw (prompt template included);
    `billed_units` what is charged. OpenAI's fields mean the billed count, so that wins."""
    u = u or {}
    billed = u.get("billed_units") or {}
    tokens = u.get("tokens") or {}
    prompt = billed.get("input_tokens")
    completion = billed.get("output_tokens")
    return Usage(
        prompt_tokens=int(prompt if prompt is not None else tokens.get("input_tokens") or 0),
        completion_tokens=int(
            completion if completion is not None else tokens.get("output_tokens") or 0
        ),
    )


def finish_reason(reason: str | None) -> str:
    return FINISH_REASONS.get(str(reason or "COMPLETE").upper(), "stop")


def from_cohere(body: dict[str, Any], model: str) -> Answer:
    msg = body.get("message") or {}
    texts = [
        c.get("text") or ""
        for c in msg.get("content") or []
        if isinstance(c, dict) and c.get("type") == "text"
    ]
    thinking = [
        c.get("thinking") or ""
        for c in msg.get("content") or []
        if isinstance(c, dict) and c.get("type") == "thinking"
    ]
    calls = [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {
                "name": (c.get("function") or {}).get("name"),
                "arguments": (c.get("function") or {}).get("arguments") or "{}",
            },
        }
        for c in msg.get("tool_calls") or []
    ]
    plan = msg.get("tool_plan") or ""
    content = plan + "".join(texts)
    usage = usage_of(body.get("usage"))
    completion = chat_completion(
        body.get("id") or "chat",
        model,
        content,
        calls,
        "".join(thinking),
        finish_reason(body.get("finish_reason")),
        usage,
    )
    return Answer(completion, usage)
