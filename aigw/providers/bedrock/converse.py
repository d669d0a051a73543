"""Bedrock's Converse API (`POST /model/{modelId}/converse`): OpenAI chat <-> Converse, pure.

One format for every Bedrock chat model. The differences from OpenAI's: system prompts are a
top-level `system` list; a message's content is a list of one-key blocks (`text`, `image`,
`toolUse`, `toolResult`, `reasoningContent`, ...); tool results travel in a *user* message;
roles must alternate (consecutive messages of one role are merged here); blank text is
refused; sampling sits in `inferenceConfig`; tools are `toolSpec`s with the JSON schema under
`inputSchema.json`; images are bytes (base64 in JSON) or an S3 location, never a web URL;
usage counts `inputTokens` without the cache's reads and writes, which come beside it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from aigw.ids import hex_id
from aigw.providers.base import Answer
from aigw.providers.common.chunks import chat_completion, text_of
from aigw.types import Usage, bad_request

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


# --- request -------------------------------------------------------------------------------


def image_block(part: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI `image_url` part -> a Converse `image` block. Converse takes the image's
    bytes (a `data:` URL here) or an S3 object (`s3://bucket/key`), never a web URL."""
    url_obj = part.get("image_url")
    url = url_obj.get("url") if isinstance(url_obj, dict) else url_obj
    if not isinstance(url, str):
        raise bad_request("image_url.url must be a string", "messages")
    if url.startswith("s3://"):
        fmt = url.rsplit(".", 1)[-1].lower()
        fmt = "jpeg" if fmt == "jpg" else fmt
        if fmt not in IMAGE_FORMATS.values():
            raise bad_request(
                "Bedrock images from S3 need a .png, .jpeg, .gif or .webp key", "messages"
            )
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    if not url.startswith("data:"):
        raise bad_request(
            "Bedrock takes images as data: URLs (base64) or s3:// URIs, not web URLs",
            "messages",
        )
    head, _, data = url[5:].partition(",")
    mime, _, encoding = head.partition(";")
    known = IMAGE_FORMATS.get(mime.lower())
    if known is None or encoding != "base64":
        raise bad_request(
            "Bedrock images must be base64 data: URLs of image/png, jpeg, gif or webp",
            "messages",
        )
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("image data: URL is not valid base64", "messages") from None
    # Blobs are base64 in Converse's JSON: the client's base64 goes through unchanged.
    return {"image": {"format": known, "source": {"bytes": data}}}


def content_blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content -> Converse blocks; blank text is dropped (Converse refuses it)."""
    if not isinstance(content, list):
        text = text_of(content)
        return [{"text": text}] if text.strip() else []
    out: list[dict[str, Any]] = []
    for p in content:
        if not isinstance(p, dict):
            continue
        kind = p.get("type")
        if kind in ("text", "input_text"):
            text = p.get("text") or ""
            if text.strip():
                out.append({"text": text})
        elif kind == "image_url":
            out.append(image_block(p))
        else:
            raise bad_request(f"content part type {kind!r} is not supported on Bedrock", "messages")
    return out


def tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    args = fn.get("arguments") or "{}"
    try:
        parsed = orjson.loads(args) if isinstance(args, str) else args
    except orjson.JSONDecodeError:
        raise bad_request("tool_calls[].function.arguments must be JSON", "messages") from None
    if not isinstance(parsed, dict):
        raise bad_request("tool_calls[].function.arguments must be a JSON object", "messages")
    return {
        "toolUse": {
            "toolUseId": call.get("id") or "",
            "name": fn.get("name") or "",
            "input": parsed,
        }
    }


def tool_result_block(m: dict[str, Any]) -> dict[str, Any]:
    text = text_of(m.get("content"))
    return {
        "toolResult": {
            "toolUseId": m.get("tool_call_id") or "",
            # A result may be empty; Converse wants at least one block, and text non-blank.
            "content": [{"text": text if text.strip() else "(empty)"}],
        }
    }


def convert_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (Converse `system` blocks, Converse `messages`)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:  # roles must alternate: merge into the last one
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in messages:
        if not isinstance(m, dict):
            raise bad_request("each message must be an object", "messages")
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text.strip():
                system.append({"text": text})
        elif role == "user":
            add("user", content_blocks(m.get("content")))
        elif role == "assistant":
            blocks = content_blocks(m.get("content"))
            blocks += [tool_use_block(c) for c in m.get("tool_calls") or [] if isinstance(c, dict)]
            add("assistant", blocks)
        elif role == "tool":
            add("user", [tool_result_block(m)])
        else:
            raise bad_request(f"unsupported message role {role!r}", "messages")
    if not out:
        raise bad_request("messages: Bedrock needs at least one non-empty user message", "messages")
    return system, out


def tool_config(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenAI `tools`/`tool_choice` -> Converse `toolConfig`.

    Converse accepts `toolUse`/`toolResult` blocks only with a `toolConfig`, which OpenAI
    clients often leave out on a turn after the tools ran (or send with "none", which
    Converse lacks). Then the tools named in the conversation are declared with an open
    schema, so the history stays valid; with no tool blocks, "none" leaves the tools out."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    used = [b["toolUse"]["name"] for m in messages for b in m["content"] if "toolUse" in b]
    has_tool_blocks = bool(used) or any("toolResult" in b for m in messages for b in m["content"])
    if not tools or (choice == "none" and not has_tool_blocks):
        if not has_tool_blocks:
            return None
        if not used:
            raise bad_request(
                "messages: a tool result must follow the assistant message that called it",
                "messages",
            )
        names = list(dict.fromkeys(used))
        return {
            "tools": [
                {"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}}
                for n in names
            ]
        }
    specs = []
    for t in tools:
        fn = t.get("function")
        if t.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            raise bad_request("tools[]: only function tools with a name are supported", "tools")
        spec: dict[str, Any] = {
            "name": fn["name"],
            "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        specs.append({"toolSpec": spec})
    out: dict[str, Any] = {"tools": specs}
    if choice == "required":
        out["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise bad_request("tool_choice.function.name is required", "tool_choice")
        out["toolChoice"] = {"tool": {"name": name}}
    elif choice not in (None, "auto", "none"):
        raise bad_request("unsupported tool_choice", "tool_choice")
    return out


def to_converse(body: dict[str, Any], model: str = "") -> dict[str, Any]:
    """An OpenAI chat request -> a Converse (or ConverseStream) body; the model goes in the
    path, the stream choice in the operation."""
    if (body.get("n") or 1) != 1:
        raise bad_request("this model's provider (bedrock) supports only n=1", "n")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("messages must be a list", "messages")
    system, msgs = convert_messages(messages)
    out: dict[str, Any] = {"messages": msgs}
    if system:
        out["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        inference["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        out["inferenceConfig"] = inference
    tc = tool_config(body, msgs)
    if tc:
        out["toolConfig"] = tc
    extra = model_fields(body, model)
    if extra:
        out["additionalModelRequestFields"] = extra
    return out


# Claude's own request fields that Converse has no place for; a client sends them as extra
# body fields (the openai SDK's `extra_body`), as for an Anthropic upstream.
ANTHROPIC_FIELDS = ("top_k", "thinking")


def model_fields(body: dict[str, Any], model: str) -> dict[str, Any]:
    """`additionalModelRequestFields`: Claude's `top_k` and `thinking` (extended thinking,
    `{"type": "enabled", "budget_tokens": N}`) for an Anthropic model; other vendors' fields
    have other names and are not sent."""
    if "anthropic." not in model:
        return {}
    return {k: body[k] for k in ANTHROPIC_FIELDS if body.get(k) is not None}


# --- response ------------------------------------------------------------------------------


def usage_of(u: dict[str, Any] | None) -> Usage:
    """Converse usage -> Usage. `inputTokens` leaves out the tokens read from or written to the
    prompt cache; OpenAI's `prompt_tokens` counts them all, so they are added."""
    u = u or {}
    read = int(u.get("cacheReadInputTokens") or 0)
    write = int(u.get("cacheWriteInputTokens") or 0)
    return Usage(
        prompt_tokens=int(u.get("inputTokens") or 0) + read + write,
        completion_tokens=int(u.get("outputTokens") or 0),
        cached_tokens=read,
        cache_creation_tokens=write,
    )


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(str(stop_reason or "end_turn"), "stop")


def arguments_json(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def from_converse(body: dict[str, Any], model: str) -> Answer:
    """A Converse answer -> an OpenAI `chat.completion`."""
    message = (body.get("output") or {}).get("message") or {}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"] or {}
            calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {
                        "name": use.get("name"),
                        "arguments": arguments_json(use.get("input")),
                    },
                }
            )
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(str(text))
    usage = usage_of(body.get("usage"))
    completion = chat_completion(
        f"chatcmpl-{hex_id(12)}",
        model,
        "".join(texts),
        calls,
        "".join(reasoning),
        finish_reason(body.get("stopReason")),
        usage,
    )
    return Answer(completion, usage)
