"""Gemini's `GenerateContentResponse` -> OpenAI's `chat.completion`, and its SSE stream (one
whole `GenerateContentResponse` per event, `?alt=sse`) -> `chat.completion.chunk`s.

Text parts become `content`, parts marked `thought` become `reasoning_content`, `functionCall`
parts become `tool_calls` (ids: ids.py). Gemini says STOP when it calls a function, so the
finish reason is `tool_calls` whenever the answer holds calls. Usage: `promptTokenCount`
(which already includes the cached part) plus tool-use prompt tokens, `candidatesTokenCount`
plus `thoughtsTokenCount` as completion tokens (OpenAI counts reasoning in them too), the
thoughts again as `reasoning_tokens`, `cachedContentTokenCount` as cached tokens.
A blocked prompt (`promptFeedback.blockReason`, no candidates) is a 400 that says so.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from aigw.providers.base import Answer
from aigw.providers.common.chunks import ChunkBuilder, chat_completion
from aigw.providers.common.errors import stream_truncated, unreadable_event
from aigw.providers.gemini.errors import stream_error
from aigw.providers.gemini.ids import call_id
from aigw.types import GatewayError, Usage

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "NO_IMAGE": "stop",
    "IMAGE_OTHER": "stop",
}
# The model tried to call a function and failed: nothing usable came back, and another
# attempt may well succeed.
BAD_CALL_REASONS = ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS")


def usage_of(u: Any) -> Usage:
    u = u if isinstance(u, dict) else {}
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    return Usage(
        prompt_tokens=int(u.get("promptTokenCount") or 0)
        + int(u.get("toolUsePromptTokenCount") or 0),
        completion_tokens=int(u.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(u.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def finish_reason(reason: str, provider: str) -> str:
    if reason in BAD_CALL_REASONS:
        raise GatewayError(
            502,
            f"{provider}: the model produced an unusable function call ({reason})",
            "api_error",
            "upstream_bad_function_call",
            retryable=True,
        )
    return FINISH_REASONS.get(reason, "stop")


def blocked(body: dict[str, Any], provider: str) -> GatewayError | None:
    """A prompt Gemini refused to answer: no candidates, and `promptFeedback.blockReason`."""
    feedback = body.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not reason or body.get("candidates"):
        return None
    return GatewayError(
        400,
        f"{provider}: the prompt was blocked by the provider's safety filters ({reason})",
        "invalid_request_error",
        "content_filter",
        "messages",
    )


def no_candidates(provider: str) -> GatewayError:
    return GatewayError(
        502, f"{provider}: the answer holds no candidates", "api_error", "bad_upstream_response"
    )


def completion_id(body: dict[str, Any]) -> str:
    rid = body.get("responseId")
    return f"chatcmpl-{rid}" if isinstance(rid, str) and rid else f"chatcmpl-{uuid.uuid4().hex}"


def from_gemini(body: dict[str, Any], model: str, provider: str) -> Answer:
    """A Gemini answer -> an OpenAI `chat.completion` and its usage."""
    err = blocked(body, provider)
    if err is not None:
        raise err
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        raise no_candidates(provider)
    cand = candidates[0]
    rid = str(body.get("responseId") or "")
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts_of(cand):
        fc = part.get("functionCall")
        if isinstance(fc, dict):
            calls.append(tool_call(rid, len(calls), fc, part.get("thoughtSignature")))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    reason = finish_reason(str(cand.get("finishReason") or "STOP"), provider)
    if calls and reason == "stop":
        reason = "tool_calls"
    usage = usage_of(body.get("usageMetadata"))
    out = chat_completion(
        completion_id(body), model, "".join(texts), calls, "".join(thoughts), reason, usage
    )
    return Answer(out, usage)


def parts_of(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def tool_call(rid: str, index: int, fc: dict[str, Any], signature: Any) -> dict[str, Any]:
    args = fc.get("args")
    return {
        "id": call_id(rid, index, fc, signature if isinstance(signature, str) else None),
        "type": "function",
        "function": {
            "name": fc.get("name"),
            "arguments": orjson.dumps(args if args is not None else {}).decode(),
        },
    }


class GeminiStream:
    """Gemini SSE events (each a whole `GenerateContentResponse`, its usage cumulative) ->
    OpenAI `chat.completion.chunk` dicts: the role first, content and reasoning deltas, one
    delta per function call (Gemini sends each call whole) with dense indexes, the finish
    reason once, and the usage chunk last, when the upstream stream has ended."""

    __slots__ = ("_calls", "_chunks", "_finish", "_model", "_provider", "_rid", "usage")

    def __init__(self, model: str, provider: str) -> None:
        self.usage: Usage | None = None
        self._model = model
        self._provider = provider
        self._rid = ""
        self._chunks: ChunkBuilder | None = None  # made with the first event (its id)
        self._calls = 0
        self._finish: str | None = None

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        if not data.strip():
            return []
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise unreadable_event(self._provider) from None
        if isinstance(ev, list) and ev:  # Vertex may wrap an error in a list
            ev = ev[0]
        if not isinstance(ev, dict):
            return []
        if "error" in ev:
            raise stream_error(ev, self._provider)
        err = blocked(ev, self._provider)
        if err is not None:
            raise err
        if ev.get("usageMetadata"):
            self.usage = usage_of(ev["usageMetadata"])
        if self._finish is not None:
            return []  # after the finish reason only a usage update can still count
        out: list[dict[str, Any]] = []
        chunks = self._chunks
        if chunks is None:
            self._rid = str(ev.get("responseId") or "")
            chunks = self._chunks = ChunkBuilder(completion_id(ev), self._model)
            out.append(chunks.delta({"role": "assistant", "content": ""}))
        candidates = ev.get("candidates")
        cand = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(cand, dict):
            return out
        for part in parts_of(cand):
            fc = part.get("functionCall")
            if isinstance(fc, dict):
                call = tool_call(self._rid, self._calls, fc, part.get("thoughtSignature"))
                out.append(chunks.delta({"tool_calls": [{"index": self._calls, **call}]}))
                self._calls += 1
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                out.append(chunks.delta({key: part["text"]}))
        reason = cand.get("finishReason")
        if reason:
            finish = finish_reason(str(reason), self._provider)
            if self._calls and finish == "stop":
                finish = "tool_calls"
            self._finish = finish
            out.append(chunks.delta({}, finish))
        return out

    def close(self) -> list[dict[str, Any]]:
        if self._finish is None or self._chunks is None:
            raise stream_truncated(self._provider)
        return [self._chunks.usage(self.usage or Usage())]
