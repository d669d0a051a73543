"""Cache keys: a hash of the canonical request, and the scope of a semantic lookup.

Every field of the request is part of the key (messages, system prompt, tools,
response_format, temperature, top_p, seed, max_tokens, stop and any provider-specific
extra), except those that only change how the answer travels. A new field a provider adds
tomorrow is therefore keyed by default: a missing field would serve a wrong answer, an
extra one only costs a miss.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Bump when the stored format or the keying changes: old entries are then never read.
CACHE_VERSION = 2

# Transport only: `stream`/`stream_options` change the framing (a cached answer is replayed
# either way), `user` is OpenAI's end-user tag for abuse monitoring, not an input.
# Fields that do not change the answer: who asks (user; Anthropic's metadata.user_id) and how
# it is delivered.
UNKEYED = frozenset({"stream", "stream_options", "user", "metadata"})

_DUMP = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _digest(parts: Any) -> str:
    # SHA-256 (128 bits kept): the hash is most of a key's cost on a long conversation, and
    # OpenSSL's SHA-256 (CPU instructions) runs 2-4x faster than BLAKE2b here.
    return hashlib.sha256(orjson.dumps(parts, option=_DUMP)).hexdigest()[:32]


def tenant_scope(scope_mode: str, org_id: str) -> str:
    return "*" if scope_mode == "global" else "org:" + org_id


def exact_key(endpoint: str, model: str, body: dict[str, Any], tenant: str) -> str:
    """`model` is the name after routing aliases (the cost router may have rewritten it)."""
    canon = {k: v for k, v in body.items() if k not in UNKEYED}
    canon["model"] = model
    return _digest([CACHE_VERSION, "exact", endpoint, tenant, canon])


def message_text(msg: dict[str, Any]) -> str | None:
    """The text of a message, or None when it carries anything but text (images, audio)."""
    content = msg.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            text = part.get("text")
            if not isinstance(text, str):
                return None
            out.append(text)
        return "\n".join(out)
    return None


def semantic_scope(
    model: str, body: dict[str, Any], tenant: str, max_chars: int
) -> tuple[str, str] | None:
    """(scope hash, last user text) when the request may be answered semantically, else None.

    The scope holds everything but the last user message: tenant, model, system prompt,
    earlier turns and every parameter. Only the last user message is compared by meaning.
    Requests with tools, several choices, or non-text content are never eligible.
    """
    if body.get("tools") or body.get("functions") or body.get("tool_choice"):
        return None
    n = body.get("n")
    if n is not None and n != 1:
        return None
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return None
    last = msgs[-1]
    if not isinstance(last, dict) or last.get("role") != "user" or set(last) - {"role", "content"}:
        return None
    text = message_text(last)
    if text is None or not text.strip() or len(text) > max_chars:
        return None
    params = {k: v for k, v in body.items() if k not in UNKEYED and k != "messages"}
    params["model"] = model
    return _digest([CACHE_VERSION, "semantic", tenant, params, msgs[:-1]]), text


def deterministic(body: dict[str, Any]) -> bool:
    """True when the caller asked for temperature 0 (the default temperature is 1)."""
    t = body.get("temperature")
    return isinstance(t, int | float) and not isinstance(t, bool) and t == 0
