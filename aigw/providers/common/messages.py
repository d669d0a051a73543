"""OpenAI request messages read the same way by every translation into another format:
a tool call's arguments, an image part's URL."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.types import bad_request


def parse_arguments(args: Any) -> dict[str, Any]:
    """A tool call's `arguments` string -> the JSON object a provider wants as its input (a
    JSON value that is not an object is wrapped as `{"value": ...}`)."""
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


def image_url(part: dict[str, Any]) -> str:
    """An `image_url` part's URL (given as `{"url": ...}` or, loosely, as the string)."""
    url_obj = part.get("image_url")
    url = url_obj.get("url") if isinstance(url_obj, dict) else url_obj
    if not isinstance(url, str) or not url:
        raise bad_request("image_url parts need a url", "messages")
    return url
