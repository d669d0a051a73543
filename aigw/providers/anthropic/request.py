"""An OpenAI chat request -> an Anthropic Messages request (`POST /v1/messages`).

System messages are lifted into `system`; user/assistant turns become content blocks (text,
image, `tool_use`, `tool_result`); consecutive turns of one role are merged, because
Anthropic wants every `tool_result` of a parallel call in the one user turn that follows.

Anthropic-only fields a chat client may send (as extra body fields, e.g. the openai SDK's
`extra_body`) pass through: `cache_control` on content parts, system parts and tools,
`thinking`, `top_k`, `metadata.user_id`.
"""

from __future__ import annotations

from typing import Any

from aigw.providers.common.chunks import text_of
from aigw.providers.common.messages import image_url, parse_arguments
from aigw.types import bad_request

API_VERSION = "2023-06-01"


def _cached(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """A prompt-caching breakpoint the client put on the part stays on the block."""
    cc = part.get("cache_control")
    if isinstance(cc, dict):
        block["cache_control"] = cc
    return block


def image_block(part: dict[str, Any]) -> dict[str, Any]:
    url = image_url(part)
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head[5:].split(";")[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def content_blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI user/assistant content -> Anthropic content blocks (empty text is dropped:
    Anthropic rejects empty text blocks)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else [content]:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if part.get("text"):
                blocks.append(_cached({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            blocks.append(_cached(image_block(part), part))
        elif kind == "refusal" and part.get("refusal"):
            blocks.append({"type": "text", "text": part["refusal"]})
    return blocks


def tool_result_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, list):
        return content_blocks(content)
    return text_of(content)


def system_blocks(content: Any) -> list[dict[str, Any]]:
    """A system (or developer) message -> text blocks, keeping any cache_control."""
    if isinstance(content, list):
        return [
            _cached({"type": "text", "text": p["text"]}, p)
            for p in content
            if isinstance(p, dict)
            and p.get("type") in ("text", "input_text")
            and isinstance(p.get("text"), str)
            and p["text"]
        ]
    text = text_of(content)
    return [{"type": "text", "text": text}] if text else []


def convert_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic system text blocks, Anthropic messages)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return  # an empty turn says nothing, and Anthropic rejects empty text blocks
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(system_blocks(m.get("content")))
        elif role == "user":
            add("user", content_blocks(m.get("content")))
        elif role == "assistant":
            blocks = content_blocks(m.get("content"))
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": tc.get("id") or "",
                        "name": fn.get("name") or "",
                        "input": parse_arguments(fn.get("arguments")),
                    }
                )
            add("assistant", blocks)
        elif role in ("tool", "function"):
            add(
                "user",
                [
                    _cached(
                        {
                            "type": "tool_result",
                            "tool_use_id": m.get("tool_call_id") or m.get("name") or "",
                            "content": tool_result_content(m.get("content")),
                        },
                        m,
                    )
                ],
            )
        else:
            raise bad_request(f"unsupported message role {role!r}", "messages")
    return system, out


def convert_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        fn = t.get("function") if t.get("type", "function") == "function" else None
        if not isinstance(fn, dict):
            continue
        tool: dict[str, Any] = {
            "name": fn.get("name"),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            tool["description"] = fn["description"]
        out.append(_cached(tool, t))
    return out


def convert_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    tc: dict[str, Any] | None
    if choice is None:
        tc = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        tc = {"type": "auto"}
    elif choice == "required":
        tc = {"type": "any"}
    elif choice == "none":
        tc = {"type": "none"}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        tc = {"type": "tool", "name": name} if name else {"type": "auto"}
    else:
        raise bad_request("unsupported tool_choice", "tool_choice")
    if tc is not None and parallel is False and tc["type"] != "none":
        tc["disable_parallel_tool_use"] = True
    return tc


def to_anthropic(body: dict[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    """An OpenAI chat request body -> an Anthropic Messages request body."""
    if (body.get("n") or 1) != 1:
        raise bad_request("this model's provider (anthropic) supports only n=1", "n")
    system, messages = convert_messages(body.get("messages") or [])
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or default_max_tokens,
    }
    if system:
        plain = len(system) == 1 and "cache_control" not in system[0]
        out["system"] = system[0]["text"] if plain else system
    for k in ("temperature", "top_p", "top_k"):
        if body.get(k) is not None:
            out[k] = body[k]
    if isinstance(body.get("thinking"), dict):
        out["thinking"] = body["thinking"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        out["tools"] = convert_tools(tools)
        tc = convert_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if tc is not None:
            out["tool_choice"] = tc  # (tools stay: a history with tool blocks needs them)
    meta = body.get("metadata")
    user = meta.get("user_id") if isinstance(meta, dict) else None
    user = user if isinstance(user, str) and user else body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out
