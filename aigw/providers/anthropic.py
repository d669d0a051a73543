"""Anthropic's Messages API (`POST /v1/messages`): pure translation to and from OpenAI's format.

Request: system messages are lifted into `system`; user/assistant turns become content blocks
(text, image, `tool_use`, `tool_result`); consecutive turns of one role are merged, because
Anthropic wants every `tool_result` of a parallel call in the one user turn that follows.
Response and stream: content blocks back to `message.content` / `tool_calls`, `stop_reason`
to `finish_reason`, usage (cache reads and writes count as prompt tokens, as OpenAI counts
them). No I/O here: `providers/http.py` sends what this module builds.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from aigw.config import ProviderConfig
from aigw.providers.base import (
    UpstreamRequest,
    chat_completion,
    retry_after_seconds,
    text_of,
    upstream_status_error,
)
from aigw.providers.sse import SSEParser
from aigw.types import GatewayError, Usage, bad_request

API_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic's error types by HTTP status (and back), as listed in its API reference.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class Native(dict):
    """An OpenAI-shaped dict that also carries Anthropic's own form of the same thing: the
    client's Messages request (set by `POST /v1/messages`), the upstream's message, or the
    raw stream events behind a chunk. So an Anthropic client talking to an Anthropic upstream
    gets the provider's request, answer and events unchanged (thinking blocks, cache_control,
    stop_sequence...). It serialises and copies as the plain dict, so every other reader,
    and every other provider, sees only the OpenAI form."""

    __slots__ = ("native",)

    def __init__(self, value: dict[str, Any], native: Any) -> None:
        super().__init__(value)
        self.native = native


# --- request -------------------------------------------------------------------------------


def image_block(part: dict[str, Any]) -> dict[str, Any]:
    url_obj = part.get("image_url")
    url = url_obj.get("url") if isinstance(url_obj, dict) else url_obj
    if not isinstance(url, str) or not url:
        raise bad_request("image_url parts need a url", "messages")
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
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(image_block(part))
        elif kind == "refusal" and part.get("refusal"):
            blocks.append({"type": "text", "text": part["refusal"]})
    return blocks


def parse_arguments(args: Any) -> Any:
    """A tool call's `arguments` string -> the object Anthropic wants as `input`."""
    if isinstance(args, dict):
        return args
    if not args:
        return {}
    try:
        value = orjson.loads(args)
    except orjson.JSONDecodeError:
        raise bad_request(
            "tool_calls[].function.arguments must be a JSON object", "messages"
        ) from None
    return value if isinstance(value, dict) else {"value": value}


def tool_result_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, list):
        return content_blocks(content)
    return text_of(content)


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
            text = text_of(m.get("content"))
            if text:
                system.append({"type": "text", "text": text})
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
                    {
                        "type": "tool_result",
                        "tool_use_id": m.get("tool_call_id") or m.get("name") or "",
                        "content": tool_result_content(m.get("content")),
                    }
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
        out.append(tool)
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
        out["system"] = system[0]["text"] if len(system) == 1 else system
    for k in ("temperature", "top_p", "top_k"):
        if body.get(k) is not None:
            out[k] = body[k]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = body.get("tools")
    if tools:
        out["tools"] = convert_tools(tools)
        tc = convert_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if tc is not None:
            out["tool_choice"] = tc  # (tools stay: a history with tool blocks needs them)
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out


# --- response ------------------------------------------------------------------------------


def usage_of(u: dict[str, Any] | None) -> Usage:
    u = u or {}
    cache_read = int(u.get("cache_read_input_tokens") or 0)
    cache_write = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(u.get("input_tokens") or 0) + cache_read + cache_write,
        completion_tokens=int(u.get("output_tokens") or 0),
        cached_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


def arguments_json(value: Any) -> str:
    return orjson.dumps(value if value is not None else {}).decode()


def from_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic message -> an OpenAI `chat.completion`."""
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in body.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": arguments_json(block.get("input")),
                    },
                }
            )
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
    return chat_completion(
        body.get("id") or "msg",
        body.get("model") or model,
        "".join(texts),
        tool_calls,
        "".join(thinking),
        finish_reason(body.get("stop_reason")) or "stop",
        usage_of(body.get("usage")),
    )


# --- stream --------------------------------------------------------------------------------


def stream_error(payload: dict[str, Any]) -> GatewayError:
    raw = payload.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    type_ = str(err.get("type") or "api_error")
    message = str(err.get("message") or "upstream stream error")
    status = ERROR_STATUS.get(type_, 500)
    if status == 529:
        status = 503
    return GatewayError(
        status if status >= 400 else 502,
        f"anthropic: {message}",
        "api_error" if status >= 500 else type_,
        type_,
        retryable=status == 429 or status >= 500,
    )


class AnthropicStream:
    """Anthropic SSE events -> OpenAI `chat.completion.chunk` dicts."""

    __slots__ = (
        "_args_seen",
        "_created",
        "_finished",
        "_id",
        "_model",
        "_raw",
        "_tools",
        "usage",
    )

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._id = "msg"
        self._model = model
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool_calls index
        self._args_seen: set[int] = set()
        self._finished = False
        self._raw: list[tuple[str, bytes]] = []  # events not yet attached to a chunk

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if not data:
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(
                502, "anthropic: unreadable stream event", "api_error", "bad_upstream_response"
            ) from None
        kind = ev.get("type") or event or ""
        self._raw.append((kind, data))
        chunks = self._translate(kind, ev)
        if chunks:
            # The provider's own events ride on the first chunk they produced (for
            # /v1/messages to pass them through); in order, each exactly once.
            chunks[0] = Native(chunks[0], self._raw)
            self._raw = []
        return chunks

    def _translate(self, kind: str, ev: dict[str, Any]) -> list[dict[str, Any]]:
        if kind == "content_block_delta":
            delta = ev.get("delta") or {}
            dk = delta.get("type")
            if dk == "text_delta":
                return [self._chunk({"content": delta.get("text") or ""})]
            if dk == "input_json_delta":
                idx = ev.get("index", 0)
                part = delta.get("partial_json") or ""
                if idx not in self._tools or not part:
                    return []
                self._args_seen.add(idx)
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {"index": self._tools[idx], "function": {"arguments": part}}
                            ]
                        }
                    )
                ]
            if dk == "thinking_delta":
                return [self._chunk({"reasoning_content": delta.get("thinking") or ""})]
            return []  # signature_delta, citations_delta: nothing for an OpenAI client
        if kind == "content_block_start":
            block = ev.get("content_block") or {}
            idx = ev.get("index", 0)
            if block.get("type") == "tool_use":
                n = len(self._tools)
                self._tools[idx] = n
                call = {
                    "index": n,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_stop":
            idx = ev.get("index", 0)
            if idx in self._tools and idx not in self._args_seen:
                # A tool called without arguments: OpenAI clients expect a JSON object.
                tool = {"index": self._tools[idx], "function": {"arguments": "{}"}}
                return [self._chunk({"tool_calls": [tool]})]
            return []
        if kind == "message_start":
            msg = ev.get("message") or {}
            self._id = msg.get("id") or self._id
            self._model = msg.get("model") or self._model
            self.usage = usage_of(msg.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            u = ev.get("usage") or {}
            usage = self.usage or Usage()
            if u:
                # Counts on message_delta are cumulative; absent ones keep message_start's.
                merged = {
                    "input_tokens": usage.prompt_tokens
                    - usage.cached_tokens
                    - usage.cache_creation_tokens,
                    "cache_read_input_tokens": usage.cached_tokens,
                    "cache_creation_input_tokens": usage.cache_creation_tokens,
                    "output_tokens": usage.completion_tokens,
                }
                merged.update({k: v for k, v in u.items() if v is not None and k in merged})
                usage = usage_of(merged)
            self.usage = usage
            stop = (ev.get("delta") or {}).get("stop_reason")
            if stop is None:
                return []
            self._finished = True
            return [self._chunk({}, finish_reason(stop))]
        if kind == "message_stop":
            self._finished = True
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = (self.usage or Usage()).to_openai()
            return [chunk]
        if kind == "error":
            raise stream_error(ev)
        return []  # ping, and event types added later

    def close(self) -> list[dict[str, Any]]:
        if not self._finished:
            raise GatewayError(
                502,
                "anthropic: the stream ended before the message was complete",
                "api_error",
                "upstream_stream_truncated",
            )
        return []


# --- errors --------------------------------------------------------------------------------


def error_from(status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
    """Anthropic's `{"type": "error", "error": {"type", "message"}}` -> the client's error.
    529 overloaded_error is a temporary condition: 503, retryable, with the provider's text."""
    message, type_ = f"upstream returned HTTP {status}", None
    try:
        err = orjson.loads(body).get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            type_ = err.get("type")
    except (orjson.JSONDecodeError, AttributeError):
        if body:
            message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
    if status == 529 or type_ == "overloaded_error":
        return GatewayError(
            503,
            f"anthropic: overloaded: {message}",
            "api_error",
            "overloaded_error",
            retryable=True,
            retry_after=retry_after_seconds(headers),
        )
    return upstream_status_error(
        status,
        message,
        headers,
        "anthropic",
        "invalid_request_error" if status < 500 and status != 429 else None,
        type_,
    )


# --- the adapter ---------------------------------------------------------------------------


class AnthropicAdapter:
    type = "anthropic"
    default_base_url = "https://api.anthropic.com"
    default_models = (
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-3-5-haiku-latest",
    )
    passthrough = False
    stream_decoder = SSEParser

    def headers(self, conf: ProviderConfig) -> dict[str, str]:
        h = {
            "Content-Type": "application/json",
            "anthropic-version": conf.api_version or API_VERSION,
        }
        if conf.api_key:
            h["x-api-key"] = conf.api_key
        h.update(conf.headers)
        return h

    def chat_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str, stream: bool
    ) -> UpstreamRequest:
        native = getattr(body, "native", None)
        if isinstance(native, dict):
            # An Anthropic client's own request (POST /v1/messages): sent as it came.
            out = {k: v for k, v in native.items() if k != "stream"}
            out["model"] = model
            out["max_tokens"] = body.get("max_tokens") or out.get("max_tokens")
        else:
            out = to_anthropic(body, model, conf.default_max_tokens)
        if stream:
            out["stream"] = True
        return UpstreamRequest("/v1/messages", out, self.headers(conf))

    def chat_response(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        return Native(from_anthropic(body, model), body)

    def chat_stream(self, model: str) -> AnthropicStream:
        return AnthropicStream(model)

    def embeddings_request(
        self, conf: ProviderConfig, body: dict[str, Any], model: str
    ) -> UpstreamRequest:
        raise GatewayError(
            400,
            f"The model `{body.get('model')}` is served by Anthropic, which has no embeddings API.",
            "invalid_request_error",
            "model_not_supported",
            "model",
        )

    def embeddings_response(
        self, body: dict[str, Any], model: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        raise GatewayError(502, "anthropic: no embeddings", "api_error", "upstream_error")

    def error(self, status: int, body: bytes, headers: dict[str, str]) -> GatewayError:
        return error_from(status, body, headers)


adapter = AnthropicAdapter()
