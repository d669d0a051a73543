"""An OpenAI upstream's own Responses answer, for the pipeline: the request (the whole
conversation, `store: false`), the answer as a chat completion (so usage, cost, limits and
the cache see what they see on chat), and its stream events as chat chunks. Pure, no I/O.

The client still gets the upstream's own response object and stream events (built-in tool
items and their events included), under the gateway's response id (responses/stage.py)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from aigw.providers.base import UpstreamRequest
from aigw.providers.openai.settings import OpenAISettings
from aigw.providers.settings import ProviderConfig
from aigw.responses.turn import Turn
from aigw.types import GatewayError, Usage


def speaks_responses(conf: ProviderConfig) -> bool:
    if not isinstance(conf, OpenAISettings):
        return False
    if conf.native_responses is not None:
        return conf.native_responses
    return conf.base_url.startswith("https://api.openai.com")


def request(conf: ProviderConfig, turn: Turn, model: str, stream: bool) -> UpstreamRequest:
    headers = {"Content-Type": "application/json"}
    if conf.api_key:
        headers["Authorization"] = f"Bearer {conf.api_key}"
    headers.update(conf.headers)
    return UpstreamRequest("/responses", turn.upstream_request(model, stream), headers)


def usage_of(u: dict[str, Any] | None) -> Usage | None:
    if not u:
        return None
    details = u.get("input_tokens_details") or {}
    return Usage(
        prompt_tokens=int(u.get("input_tokens") or 0),
        completion_tokens=int(u.get("output_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def chat_usage(u: dict[str, Any] | None) -> dict[str, Any] | None:
    usage = usage_of(u)
    if usage is None:
        return None
    out = usage.to_openai()
    reasoning = ((u or {}).get("output_tokens_details") or {}).get("reasoning_tokens")
    if reasoning:
        out["completion_tokens_details"] = {"reasoning_tokens": int(reasoning)}
    return out


def finish_reason(resp: dict[str, Any], tool_calls: bool) -> str:
    reason = (resp.get("incomplete_details") or {}).get("reason")
    if resp.get("status") == "incomplete":
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if tool_calls else "stop"


def to_chat(resp: dict[str, Any]) -> dict[str, Any]:
    """A Responses answer as the chat completion it amounts to."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in resp.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                text.append(part.get("text") or part.get("refusal") or "")
        elif kind == "function_call":
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
            )
        elif kind == "reasoning":
            for part in item.get("content") or ():
                reasoning.append(part.get("text") or "")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    return {
        "id": resp.get("id"),
        "object": "chat.completion",
        "created": int(resp.get("created_at") or time.time()),
        "model": resp.get("model"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(resp, bool(calls))}
        ],
        "usage": chat_usage(resp.get("usage")),
    }


def failure(payload: dict[str, Any]) -> GatewayError:
    err = payload.get("error") if payload.get("type") != "error" else payload
    if not isinstance(err, dict):
        err = (payload.get("response") or {}).get("error") or {}
    return GatewayError(
        502,
        str(err.get("message") or "upstream stream error"),
        "api_error",
        str(err.get("code") or "upstream_error"),
    )


class NativeStream:
    """OpenAI's Responses stream events in, chat chunks out (a StreamTranslator), for the
    stages inside (usage, limits, observability). Every event yields at least an empty
    chunk, so the upstream's own events (passed to the client) are never held back."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.id = ""
        self.calls: dict[str, int] = {}  # item id -> chat tool_calls index
        self.done = False

    def _chunk(self, delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": self.id, "object": "chat.completion.chunk", "choices": choices}

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(
                502,
                "upstream sent an unreadable stream event",
                "api_error",
                "bad_upstream_response",
            ) from None
        if not isinstance(ev, dict):
            return [self._chunk(None)]
        kind = ev.get("type") or event
        if kind == "response.created":
            self.id = (ev.get("response") or {}).get("id") or ""
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "response.output_text.delta":
            return [self._chunk({"content": ev.get("delta") or ""})]
        if kind == "response.reasoning_text.delta":
            return [self._chunk({"reasoning_content": ev.get("delta") or ""})]
        if kind == "response.output_item.added":
            item = ev.get("item") or {}
            if item.get("type") == "function_call":
                n = self.calls[item.get("id") or ""] = len(self.calls)
                call = {
                    "index": n,
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name") or "", "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
        elif kind == "response.function_call_arguments.delta":
            n = self.calls.get(ev.get("item_id") or "", 0)
            call = {"index": n, "function": {"arguments": ev.get("delta") or ""}}
            return [self._chunk({"tool_calls": [call]})]
        elif kind in ("response.completed", "response.incomplete"):
            resp = ev.get("response") or {}
            self.done = True
            self.usage = usage_of(resp.get("usage"))
            out = [self._chunk({}, finish_reason(resp, bool(self.calls)))]
            usage = chat_usage(resp.get("usage"))
            if usage:
                out.append({**self._chunk(None), "usage": usage})
            return out
        elif kind in ("response.failed", "error"):
            raise failure(ev)
        return [self._chunk(None)]

    def close(self) -> list[dict[str, Any]]:
        if not self.done:
            raise GatewayError(
                502,
                "openai: the upstream stream ended before the response completed",
                "api_error",
                "upstream_stream_truncated",
            )
        return []
