"""One cached answer, two framings: a stream's chunks become a chat.completion for a
non-streaming client, and a chat.completion becomes chunks for a streaming one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


def chunks_to_completion(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Assemble streamed `chat.completion.chunk`s into the `chat.completion` they spell."""
    head: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for c in chunks:
        for k in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if k in c and k not in head:
                head[k] = c[k]
        if c.get("usage"):
            usage = c["usage"]
        for ch in c.get("choices") or ():
            idx = int(ch.get("index") or 0)
            out = choices.setdefault(
                idx,
                {
                    "index": idx,
                    "message": {"role": "assistant", "content": None},
                    "logprobs": None,
                    "finish_reason": None,
                },
            )
            msg = out["message"]
            delta = ch.get("delta") or {}
            if delta.get("role"):
                msg["role"] = delta["role"]
            for field in ("content", "refusal"):
                piece = delta.get(field)
                if isinstance(piece, str):
                    msg[field] = (msg.get(field) or "") + piece
            for tc in delta.get("tool_calls") or ():
                calls = msg.setdefault("tool_calls", [])
                i = int(tc.get("index") or 0)
                while len(calls) <= i:
                    calls.append(
                        {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                    )
                call = calls[i]
                if tc.get("id"):
                    call["id"] = tc["id"]
                if tc.get("type"):
                    call["type"] = tc["type"]
                fn = tc.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
            lp = ch.get("logprobs")
            if lp and lp.get("content"):
                out["logprobs"] = out["logprobs"] or {"content": []}
                out["logprobs"]["content"].extend(lp["content"])
            if ch.get("finish_reason"):
                out["finish_reason"] = ch["finish_reason"]
    body: dict[str, Any] = {
        "id": head.get("id", ""),
        "object": "chat.completion",
        "created": head.get("created", 0),
        "model": head.get("model", ""),
        "choices": [choices[i] for i in sorted(choices)],
    }
    for k in ("system_fingerprint", "service_tier"):
        if k in head:
            body[k] = head[k]
    if usage:
        body["usage"] = usage
    return body


def completion_to_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a `chat.completion` into the chunks a stream of it would have carried: a role
    chunk, the content (one delta: the client gets it at once anyway), the finish, usage."""
    head = {
        "id": body.get("id", ""),
        "object": "chat.completion.chunk",
        "created": body.get("created", 0),
        "model": body.get("model", ""),
    }
    if "system_fingerprint" in body:
        head["system_fingerprint"] = body["system_fingerprint"]
    out: list[dict[str, Any]] = []
    for ch in body.get("choices") or ():
        idx = ch.get("index", 0)
        msg = ch.get("message") or {}
        first: dict[str, Any] = {"role": msg.get("role", "assistant"), "content": ""}
        out.append({**head, "choices": [{"index": idx, "delta": first, "finish_reason": None}]})
        delta: dict[str, Any] = {}
        if msg.get("content"):
            delta["content"] = msg["content"]
        if msg.get("refusal"):
            delta["refusal"] = msg["refusal"]
        if msg.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(msg["tool_calls"])]
        if delta:
            piece: dict[str, Any] = {"index": idx, "delta": delta, "finish_reason": None}
            if ch.get("logprobs"):
                piece["logprobs"] = ch["logprobs"]
            out.append({**head, "choices": [piece]})
        out.append(
            {
                **head,
                "choices": [{"index": idx, "delta": {}, "finish_reason": ch.get("finish_reason")}],
            }
        )
    if body.get("usage"):
        out.append({**head, "choices": [], "usage": body["usage"]})
    return out


async def replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for c in chunks:
        yield c
