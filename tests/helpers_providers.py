"""Helpers for the provider tests: feed a fixture stream to a translator, assemble chunks."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.providers.common.sse import SSEParser
from tests.mock_providers import fixture


def translate_stream(provider: str, name: str, translator: Any, piece: int = 17) -> list[dict]:
    """Run a fixture's SSE bytes through the gateway's parser and `translator`, in small
    pieces so events arrive split the way the network splits them."""
    raw = fixture(provider, name)
    parser = SSEParser()
    chunks: list[dict] = []
    for i in range(0, len(raw), piece):
        for ev, data in parser.feed(raw[i : i + piece]):
            chunks.extend(translator.feed(ev, data))
    for ev, data in parser.flush():
        chunks.extend(translator.feed(ev, data))
    chunks.extend(translator.close())
    return chunks


def assemble(chunks: list[dict]) -> dict[str, Any]:
    """OpenAI chunks -> the message a client builds from them (the way the SDKs do it)."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    role = None
    usage = None
    for c in chunks:
        if c.get("usage"):
            usage = c["usage"]
        for choice in c.get("choices") or []:
            d = choice.get("delta") or {}
            role = role or d.get("role")
            if d.get("content"):
                content.append(d["content"])
            if d.get("reasoning_content"):
                reasoning.append(d["reasoning_content"])
            for tc in d.get("tool_calls") or []:
                slot = calls.setdefault(
                    tc["index"],
                    {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
                )
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["function"]["name"] = fn["name"]
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    text = "".join(content)
    message: dict[str, Any] = {"role": role, "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    return {"message": message, "finish_reason": finish, "usage": usage}


def normalise_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message with tool arguments parsed (streamed JSON may differ in whitespace)."""
    out = {k: v for k, v in message.items() if k in ("role", "reasoning_content")}
    out["content"] = message.get("content") or None
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": tc["id"],
                "name": tc["function"]["name"],
                "arguments": orjson.loads(tc["function"]["arguments"] or "{}"),
            }
            for tc in message["tool_calls"]
        ]
    return out


def check_chunk_shape(chunks: list[dict]) -> None:
    """The stream rules OpenAI clients rely on."""
    choice_chunks = [c for c in chunks if c.get("choices")]
    assert choice_chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    finishes = [c["choices"][0]["finish_reason"] for c in choice_chunks]
    assert finishes[-1] is not None and all(f is None for f in finishes[:-1])
    assert chunks[-1]["choices"] == [] and "prompt_tokens" in chunks[-1]["usage"]
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["id"] and c["model"]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
