"""A cheap prompt token estimate for reservations: about four characters per token (OpenAI's
rule of thumb for English), a few tokens of framing per message, no tokenizer. It only has to
be close: the reservation is settled to the real usage when the response ends."""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4  # role and separators
PER_IMAGE = 85  # OpenAI's low-detail image cost; high detail is settled afterwards


def completion_cap(body: dict[str, Any], default: int) -> int:
    """The most completion tokens the request can produce (what is reserved for it)."""
    for name in ("max_completion_tokens", "max_tokens"):
        v = body.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            n = body.get("n")
            cap = v * n if isinstance(n, int) and n > 1 else v
            return min(cap, MAX_CAP)  # a database integer holds it (8-byte columns)
    return default


MAX_CAP = 2**40


def estimate_prompt_tokens(endpoint: str, body: dict[str, Any]) -> int:
    if endpoint == "embeddings":
        return _embedding_input(body.get("input"))
    chars = 0
    extra = 3  # every reply is primed with a few tokens
    system = body.get("system")  # Anthropic Messages: the system prompt sits outside messages
    if system is not None:
        chars += _content_chars(system)
    for m in body.get("messages") or ():
        if not isinstance(m, dict):
            continue
        extra += PER_MESSAGE
        content = m.get("content")
        if isinstance(content, str):  # the common case, without a call
            chars += len(content)
        else:
            c, images = _content(content)
            chars += c
            extra += images * PER_IMAGE
        for tc in m.get("tool_calls") or ():
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict):
                chars += len(str(fn.get("name") or "")) + len(str(fn.get("arguments") or ""))
    tools = body.get("tools")
    if tools:
        chars += len(repr(tools))  # rare and small; repr is cheaper than JSON encoding here
    return extra + (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _content(c: Any) -> tuple[int, int]:
    if isinstance(c, str):
        return len(c), 0
    chars = images = 0
    if isinstance(c, list):
        for part in c:
            if not isinstance(part, dict):
                continue
            t = part.get("text")
            if isinstance(t, str):
                chars += len(t)
            elif part.get("type") in ("image_url", "image", "input_image"):
                images += 1
    return chars, images


def _content_chars(c: Any) -> int:
    return _content(c)[0]


def _embedding_input(inp: Any) -> int:
    if isinstance(inp, str):
        return max(1, (len(inp) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN)
    if isinstance(inp, list):
        if inp and all(isinstance(x, int) for x in inp):
            return len(inp)  # one input given as token ids
        return sum(_embedding_input(x) for x in inp)
    return 1
