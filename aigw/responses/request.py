"""Checking a POST /v1/responses body before anything else happens: a 400 in OpenAI's error
shape, with the offending parameter named, for anything the gateway cannot honour."""

from __future__ import annotations

import re
from typing import Any

from aigw.types import bad_request

MAX_TOKENS = 2**31 - 1
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
ROLES = ("user", "assistant", "system", "developer")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# Parameters the gateway accepts and hands to an OpenAI upstream as they are (translated
# requests do without them: they steer OpenAI's own features).
PASSED = frozenset(
    {
        "include",
        "truncation",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "max_tool_calls",
        "top_logprobs",
        "stream_options",
        "background",
    }
)
KNOWN = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "metadata",
        "user",
        "store",
        "previous_response_id",
        "stream",
    }
    | PASSED
)
# Output items of OpenAI's built-in tools: kept in a conversation, sent to an OpenAI
# upstream, left out when the conversation is translated to chat.
BUILT_IN_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "custom_tool_call",
        "custom_tool_call_output",
    }
)


def _is_str(v: Any, max_len: int = 1 << 30) -> bool:
    return isinstance(v, str) and len(v) <= max_len


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> None:
    v = body.get(key)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        raise bad_request(f"'{key}' must be a number between {lo:g} and {hi:g}", key)


def check(body: dict[str, Any]) -> bool:
    """Raise a 400 for a request the gateway cannot honour. Returns True when the request
    needs OpenAI itself (built-in tools, a hosted tool_choice): only an OpenAI upstream may
    then answer it."""
    unknown = sorted(k for k in body if k not in KNOWN)
    if unknown:
        raise bad_request(f"Unknown parameter: '{unknown[0]}'.", unknown[0], "unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("you must provide a model parameter", "model")
    for key in ("stream", "store", "parallel_tool_calls"):
        if key in body and body[key] is not None and not isinstance(body[key], bool):
            raise bad_request(f"'{key}' must be a boolean", key)
    if body.get("background"):
        raise bad_request("'background' responses are not supported by the gateway", "background")
    if body.get("instructions") is not None and not _is_str(body["instructions"]):
        raise bad_request("'instructions' must be a string", "instructions")
    prev = body.get("previous_response_id")
    if prev is not None and (not isinstance(prev, str) or not _ID.match(prev)):
        raise bad_request("'previous_response_id' must be a response id", "previous_response_id")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    # Limits and budgets reserve max_output_tokens: bounded as chat's max_tokens is.
    mot = body.get("max_output_tokens")
    if mot is not None and (
        isinstance(mot, bool) or not isinstance(mot, int) or not 1 <= mot <= MAX_TOKENS
    ):
        raise bad_request(
            f"'max_output_tokens' must be an integer from 1 to {MAX_TOKENS}", "max_output_tokens"
        )
    if body.get("user") is not None and not _is_str(body["user"], 256):
        raise bad_request("'user' must be a string of at most 256 characters", "user")
    _metadata(body.get("metadata"))
    _text(body.get("text"))
    _reasoning(body.get("reasoning"))
    _input(body.get("input"))
    native = _tools(body.get("tools"))
    return _tool_choice(body.get("tool_choice")) or native


def _metadata(md: Any) -> None:
    if md is None:
        return
    if not isinstance(md, dict) or len(md) > 16:
        raise bad_request("'metadata' must be an object of at most 16 pairs", "metadata")
    for k, v in md.items():
        if len(k) > 64 or not _is_str(v, 512):
            raise bad_request(
                "'metadata' keys are at most 64 characters, values strings of at most 512",
                "metadata",
            )


def _text(text: Any) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise bad_request("'text' must be an object", "text")
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise bad_request(
            "'text.format.type' must be one of 'text', 'json_object', 'json_schema'",
            "text.format.type",
        )
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("name"), str) or not _FUNCTION_NAME.match(fmt["name"]):
            raise bad_request(
                "'text.format.name' must be a name of letters, digits, _ or -",
                "text.format.name",
            )
        if not isinstance(fmt.get("schema"), dict):
            raise bad_request("'text.format.schema' must be a JSON schema", "text.format.schema")
        if "strict" in fmt and fmt["strict"] is not None and not isinstance(fmt["strict"], bool):
            raise bad_request("'text.format.strict' must be a boolean", "text.format.strict")


def _reasoning(r: Any) -> None:
    if r is None:
        return
    if not isinstance(r, dict):
        raise bad_request("'reasoning' must be an object", "reasoning")
    effort = r.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise bad_request(
            f"'reasoning.effort' must be one of {', '.join(EFFORTS)}", "reasoning.effort"
        )


def _input(inp: Any) -> None:
    if isinstance(inp, str):
        return
    if not isinstance(inp, list):
        raise bad_request("'input' must be a string or an array of input items", "input")
    for i, item in enumerate(inp):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object", where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            _message(item, where)
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise bad_request(f"'{where}.{key}' must be a string", f"{where}.{key}")
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise bad_request(f"'{where}.call_id' must be a string", f"{where}.call_id")
            out = item.get("output")
            if not isinstance(out, str) and not (
                isinstance(out, list) and all(_text_part(p) for p in out)
            ):
                raise bad_request(
                    f"'{where}.output' must be a string or an array of input_text parts",
                    f"{where}.output",
                )
        elif kind == "reasoning" or kind in BUILT_IN_ITEMS:
            continue
        else:
            raise bad_request(
                f"'{where}.type' is not supported by the gateway: {str(kind)[:40]!r}",
                f"{where}.type",
            )


def _text_part(p: Any) -> bool:
    return isinstance(p, dict) and p.get("type") == "input_text" and isinstance(p.get("text"), str)


def _message(item: dict[str, Any], where: str) -> None:
    if item.get("role") not in ROLES:
        raise bad_request(f"'{where}.role' must be one of {', '.join(ROLES)}", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(
            f"'{where}.content' must be a string or an array of parts", f"{where}.content"
        )
    for j, part in enumerate(content):
        pw = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "refusal"):
            key = "refusal" if kind == "refusal" else "text"
            if not isinstance(part.get(key), str):  # type: ignore[union-attr]
                raise bad_request(f"'{pw}.{key}' must be a string", f"{pw}.{key}")
        elif kind == "input_image":
            assert isinstance(part, dict)
            if not isinstance(part.get("image_url"), str):
                raise bad_request(
                    f"'{pw}.image_url' must be a URL or a data URL (file_id is not supported "
                    "by the gateway)",
                    f"{pw}.image_url",
                )
            if part.get("detail") not in (None, "auto", "low", "high"):
                raise bad_request(f"'{pw}.detail' must be auto, low or high", f"{pw}.detail")
        else:
            raise bad_request(
                f"'{pw}.type' must be input_text or input_image (output_text or refusal in an "
                "assistant message)",
                f"{pw}.type",
            )


def _tools(tools: Any) -> bool:
    if tools is None:
        return False
    if not isinstance(tools, list):
        raise bad_request("'tools' must be an array", "tools")
    native = False
    for i, t in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(t, dict) or not isinstance(t.get("type"), str):
            raise bad_request(f"'{where}' must be an object with a 'type'", where)
        if t["type"] != "function":
            native = True  # OpenAI's own tools: checked against the upstream later
            continue
        if not isinstance(t.get("name"), str) or not _FUNCTION_NAME.match(t["name"]):
            raise bad_request(
                f"'{where}.name' must be 1-64 letters, digits, _ or -", f"{where}.name"
            )
        if t.get("parameters") is not None and not isinstance(t["parameters"], dict):
            raise bad_request(f"'{where}.parameters' must be a JSON schema", f"{where}.parameters")
        if t.get("description") is not None and not isinstance(t["description"], str):
            raise bad_request(f"'{where}.description' must be a string", f"{where}.description")
        if t.get("strict") is not None and not isinstance(t["strict"], bool):
            raise bad_request(f"'{where}.strict' must be a boolean", f"{where}.strict")
    return native


def _tool_choice(tc: Any) -> bool:
    if tc is None or tc in ("none", "auto", "required"):
        return False
    if isinstance(tc, dict) and tc.get("type") == "function":
        if not isinstance(tc.get("name"), str):
            raise bad_request("'tool_choice.name' must be a string", "tool_choice.name")
        return False
    if isinstance(tc, dict) and isinstance(tc.get("type"), str):
        return True  # a hosted tool or allowed_tools: OpenAI itself
    raise bad_request(
        "'tool_choice' must be none, auto, required or a tool choice object", "tool_choice"
    )
