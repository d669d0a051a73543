"""Cohere's v2 API (`POST /v2/chat`, `POST /v2/embed`): pure translation to and from OpenAI's.

Chat v2 is close to OpenAI's shape (roles system/user/assistant/tool, OpenAI-style `tools`
and `tool_calls`), with these differences: sampling is `p`/`k`, stops are `stop_sequences`,
an assistant turn that calls tools carries its text as `tool_plan`, the answer is a list of
content blocks, `finish_reason` is COMPLETE/MAX_TOKENS/STOP_SEQUENCE/TOOL_CALL/ERROR, usage
is `billed_units` and `tokens`, and the stream is its own event sequence. The tool plan is
given to OpenAI clients as the message's content, streamed and not streamed alike.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import orjson

from aigw.config import ProviderConfig
from aigw.providers.base import UpstreamRequest, chat_completion, text_of, upstream_status_error
from aigw.providers.sse import SSEParser
from aigw.types import GatewayError, Usage, bad_request

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

DEFAULT_INPUT_TYPE = "search_document"
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")


# --- chat request --------------------------------------------------------------------------


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


def from_cohere(body: dict[str, Any], model: str) -> dict[str, Any]:
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
    return chat_completion(
        body.get("id") or "chat",
        model,
        content,
        calls,
        "".join(thinking),
        finish_reason(body.get("finish_reason")),
        usage_of(body.get("usage")),
    )


# --- chat stream ---------------------------------------------------------------------------


class CohereStream:
    """Cohere v2 stream events -> OpenAI `chat.completion.chunk` dicts."""

    __slots__ = ("_created", "_finished", "_id", "_model", "_tools", "usage")

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._id = "chat"
        self._model = model
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # Cohere tool-call index -> OpenAI index
        self._finished = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if not data or data == b"[DONE]":
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(
                502, "cohere: unreadable stream event", "api_error", "bad_upstream_response"
            ) from None
        kind = ev.get("type") or event
        message = ((ev.get("delta") or {}).get("message")) or {}
        if kind == "content-delta":
            content = message.get("content") or {}
            if "thinking" in content and "text" not in content:
                return [self._chunk({"reasoning_content": content.get("thinking") or ""})]
            return [self._chunk({"content": content.get("text") or ""})]
        if kind == "tool-plan-delta":
            return [self._chunk({"content": message.get("tool_plan") or ""})]
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            fn = call.get("function") or {}
            n = len(self._tools)
            self._tools[ev.get("index", n)] = n
            out = {
                "index": n,
                "id": call.get("id"),
                "type": "function",
                "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or ""},
            }
            return [self._chunk({"tool_calls": [out]})]
        if kind == "tool-call-delta":
            args = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            idx = self._tools.get(ev.get("index", -1))
            if idx is None or not args:
                return []
            return [self._chunk({"tool_calls": [{"index": idx, "function": {"arguments": args}}]})]
        if kind == "message-start":
            self._id = ev.get("id") or self._id
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message-end":
            delta = ev.get("delta") or {}
            self._finished = True
            if delta.get("error"):
                raise GatewayError(
                    502, f"cohere: {delta['error']}", "api_error", "upstream_error", retryable=True
                )
            self.usage = usage_of(delta.get("usage"))
            usage_chunk = self._chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.usage.to_openai()
            return [self._chunk({}, finish_reason(delta.get("finish_reason"))), usage_chunk]
        # content-start/-end, tool-call-end, citation-*, debug: nothing to tell the client
        return []

    def close(self) -> list[dict[str, Any]]:
        if not self._finished:
            raise GatewayError(
                502,
                "cohere: the stream ended before the message was complete",
                "api_error",
                "upstream_stream_truncated",
            )
        return []


# --- embeddings ----------------------------------------------------------------------------


def to_cohere_embed(body: dict[str, Any], model: str) -> dict[str, Any]:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise bad_request("Cohere embeddings take text input only (not token arrays)", "input")
    input_type = body.get("input_type") or DEFAULT_INPUT_TYPE
    if input_type not in INPUT_TYPES:
        raise bad_request(f"input_type must be one of {', '.join(INPUT_TYPES)}", "input_type")
    out: dict[str, Any] = {
        "model": model,
        "texts": texts,
        "input_type": input_type,
        "embedding_types": ["float"],
    }
    if body.get("dimensions"):
        out["output_dimension"] = body["dimensions"]
    if body.get("truncate") in ("NONE", "START", "END"):
        out["truncate"] = body["truncate"]
    return out


def b64_float32(vector: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32, as the openai SDK decodes it."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def from_cohere_embed(body: dict[str, Any], model: str, request: dict[str, Any]) -> dict[str, Any]:
    embs = body.get("embeddings")
    vectors = embs.get("float") if isinstance(embs, dict) else embs
    if not isinstance(vectors, list):
        raise GatewayError(
            502,
            "cohere: embed response without float embeddings",
            "api_error",
            "bad_upstream_response",
        )
    as_b64 = request.get("encoding_format") == "base64"
    billed = ((body.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": b64_float32(v) if as_b64 else v}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": int(billed), "total_tokens": int(billed)},
    }


# --- errors --------------------------------------------------------------------------------


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """Cohere's `{"message": "..."}` (some errors add an `id`) -> the client's error."""
    message = f"upstream returned HTTP {status}"
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"])
    except orjson.JSONDecodeError:
        if body:
            message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
    if status == 499:  # Cohere's "client closed request"
        status = 502
    return upstream_status_error(status, message, headers, "cohere")


# --- the adapter ---------------------------------------------------------------------------


class CohereAdapter:
    type = "cohere"
    default_base_url = "https://api.cohere.com"
    default_models = (
        "command-a-03-2025",
        "command-r-plus-08-2024",
        "command-r-08-2024",
        "embed-v4.0",
        "embed-english-v3.0",
        "embed-multilingual-v3.0",
    )
    passthrough = False
    stream_decoder = SSEParser

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if conf.api_key:
            h["Authorization"] = f"Bearer {conf.api_key}"
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        out = to_cohere(body, model)
        if stream:
            out["stream"] = True
        return UpstreamRequest("/v2/chat", out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return from_cohere(body, model)

    def chat_stream(self, model: str) -> CohereStream:
        return CohereStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        return UpstreamRequest("/v2/embed", to_cohere_embed(body, model), self.headers(conf))

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return from_cohere_embed(body, model, request)

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = CohereAdapter()
