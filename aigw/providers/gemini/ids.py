"""Tool-call ids for Gemini's function calls.

Gemini usually sends no id with a `functionCall` (it pairs calls and results by name and
order), but OpenAI clients need one to answer with. The id made here is stable: the same
answer gives the same ids, streamed or not (a hash of the response id, the call's place
and the call itself). A Gemini id, when there is one, is kept.

Gemini 2.5 and later thinking models attach a `thoughtSignature` to a function call, which
must come back with that call in the next request (Gemini 3 refuses the request without
it). OpenAI clients keep nothing but the id, so the signature rides in it:
`<id>_ts_<signature, URL-safe base64 without padding>`, only characters every provider's id
rules accept. `split_call_id` takes it apart again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

SIGNATURE_MARK = "_ts_"


def call_id(response_id: str, index: int, call: dict[str, Any], signature: str | None) -> str:
    own = call.get("id")
    if isinstance(own, str) and own:
        base = own
    else:
        seed = orjson.dumps([response_id, index, call.get("name"), call.get("args")])
        base = "call_" + hashlib.sha256(seed).hexdigest()[:24]
    if not signature:
        return base
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return base  # not base64: not something we can carry faithfully
    return base + SIGNATURE_MARK + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def split_call_id(value: str) -> tuple[str, str | None]:
    """A tool-call id -> (the id, Gemini's thought signature in standard base64, if any)."""
    base, mark, carried = value.partition(SIGNATURE_MARK)
    if not mark or not carried:
        return value, None
    try:
        raw = base64.urlsafe_b64decode(carried + "=" * (-len(carried) % 4))
    except (binascii.Error, ValueError):
        return value, None
    return base, base64.b64encode(raw).decode()
