"""OpenAI chat request -> Gemini's `GenerateContentRequest` (the Gemini API and Vertex AI take
the same body).

Messages become `contents` of role `user`/`model` made of parts; system and developer
messages are lifted into `systemInstruction`; tool calls become `functionCall` parts and
tool results `functionResponse` parts (Gemini pairs them by function name, so each result is
named after the call it answers, looked up by `tool_call_id`); turns of one role in a row are
merged, so the results of a parallel call travel together, as Gemini wants them.
Sampling and output settings go into `generationConfig`; tools into `functionDeclarations`
with their schemas cut down to what Gemini accepts (schema.py).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

import orjson

from aigw.providers.common.chunks import text_of
from aigw.providers.common.messages import image_url, parse_arguments
from aigw.providers.gemini.ids import split_call_id
from aigw.providers.gemini.schema import to_gemini_schema, with_property_ordering
from aigw.types import bad_request

AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "ogg": "audio/ogg"}
MAX_STOP_SEQUENCES = 5  # Gemini's limit
# OpenAI's reasoning_effort as a thinking budget in tokens (a request's own thinkingConfig
# wins). "none" turns thinking off where the model allows it (2.5 Flash, not 2.5 Pro).
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (a wrong type reads as absent)."""
    return value if isinstance(value, dict) else {}


# --- content parts ---------------------------------------------------------------------------


def data_url_part(url: str, param: str) -> dict[str, Any]:
    """`data:<mime>;base64,<data>` -> an `inlineData` part. Gemini takes the same base64, so
    only its start is checked here (decoding a large image would cost memory for nothing)."""
    head, sep, data = url.partition(",")
    if not sep or ";base64" not in head or not data:
        raise bad_request(f"{param}: data URLs must be base64 (data:<type>;base64,...)", param)
    mime = head[5:].split(";")[0] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{param}: the data URL's content is not base64", param) from None
    return {"inlineData": {"mimeType": mime, "data": data}}


def image_part(part: dict[str, Any]) -> dict[str, Any]:
    url = image_url(part)
    if url.startswith("data:"):
        return data_url_part(url, "messages")
    if url.startswith("gs://"):  # Cloud Storage: Vertex reads it itself
        mime = mimetypes.guess_type(url)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise bad_request(
        "Gemini takes images inline: send the image as a data URL "
        "(data:image/png;base64,...) or, on Vertex AI, a gs:// URI; the gateway does not "
        "fetch remote URLs",
        "messages",
    )


def parts_of(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content -> Gemini parts (empty text is dropped: Gemini refuses it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for p in content if isinstance(content, list) else [content]:
        if not isinstance(p, dict):
            continue
        kind = p.get("type")
        if kind in ("text", "input_text"):
            if p.get("text"):
                parts.append({"text": str(p["text"])})
        elif kind == "image_url":
            parts.append(image_part(p))
        elif kind == "input_audio":
            audio = obj(p.get("input_audio"))
            fmt = str(audio.get("format") or "wav")
            if fmt not in AUDIO_TYPES or not isinstance(audio.get("data"), str):
                raise bad_request(
                    "input_audio needs base64 data and a format (wav, mp3)", "messages"
                )
            parts.append({"inlineData": {"mimeType": AUDIO_TYPES[fmt], "data": audio["data"]}})
        elif kind == "file":
            data = obj(p.get("file")).get("file_data")
            if not isinstance(data, str) or not data.startswith("data:"):
                raise bad_request(
                    "file parts need file_data as a data URL (uploaded file ids are not "
                    "supported for Gemini)",
                    "messages",
                )
            parts.append(data_url_part(data, "messages"))
        elif kind == "refusal" and p.get("refusal"):
            parts.append({"text": str(p["refusal"])})
    return parts


def function_response(content: Any) -> dict[str, Any]:
    """A tool message's content -> `functionResponse.response`, which must be an object: a
    JSON object is sent as that object, anything else as the text in `{"output": ...}`
    (Google's convention)."""
    text = text_of(content)
    if text.lstrip().startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    return {"output": text}


# --- messages --------------------------------------------------------------------------------


def convert_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (system instruction parts, contents)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for m in messages:
        if not isinstance(m, dict):
            raise bad_request("messages must be objects", "messages")
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", parts_of(m.get("content")))
        elif role == "assistant":
            parts = parts_of(m.get("content"))
            calls = m.get("tool_calls")
            for tc in calls if isinstance(calls, list) else []:
                if not isinstance(tc, dict):
                    continue
                fn = obj(tc.get("function"))
                name = str(fn.get("name") or "")
                call_id = str(tc.get("id") or "")
                names[call_id] = name
                part: dict[str, Any] = {
                    "functionCall": {"name": name, "args": parse_arguments(fn.get("arguments"))}
                }
                signature = split_call_id(call_id)[1]
                if signature:  # Gemini's thought signature, carried in the call's id
                    part["thoughtSignature"] = signature
                parts.append(part)
            add("model", parts)
        elif role in ("tool", "function"):
            answered = str(m.get("tool_call_id") or "")
            fname = names.get(answered) or m.get("name")
            if not isinstance(fname, str) or not fname:
                raise bad_request(
                    f"tool message answers no earlier tool call (tool_call_id {answered!r})",
                    "messages",
                )
            add(
                "user",
                [
                    {
                        "functionResponse": {
                            "name": fname,
                            "response": function_response(m.get("content")),
                        }
                    }
                ],
            )
        else:
            raise bad_request(f"unsupported message role {role!r}", "messages")
    return system, contents


# --- tools -----------------------------------------------------------------------------------


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise bad_request("tools must be a list", "tools")
    decls = []
    for i, t in enumerate(tools):
        fn = (
            t.get("function")
            if isinstance(t, dict) and t.get("type", "function") == "function"
            else None
        )
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise bad_request("only function tools are supported for Gemini", f"tools[{i}]")
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = str(fn["description"])
        params = fn.get("parameters")
        if isinstance(params, dict) and params.get("properties"):
            # (an object without properties is refused by Gemini: a tool without parameters)
            decl["parameters"] = to_gemini_schema(params, f"tools[{i}].function.parameters")
        decls.append(decl)
    return [{"functionDeclarations": decls}]


def convert_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        mode: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "required":
        mode = {"mode": "ANY"}
    elif choice == "none":
        mode = {"mode": "NONE"}
    elif isinstance(obj(choice).get("function"), dict) and isinstance(
        choice["function"].get("name"), str
    ):
        mode = {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    else:
        raise bad_request("unsupported tool_choice", "tool_choice")
    return {"functionCallingConfig": mode}


# --- the request -----------------------------------------------------------------------------


def generation_config(body: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("this model's provider (Gemini) is used with n=1 only", "n")
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(src) is not None:
            cfg[dst] = body[src]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        cfg["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise bad_request("stop must be a string or a list of strings", "stop")
        if len(stops) > MAX_STOP_SEQUENCES:
            raise bad_request(f"Gemini takes at most {MAX_STOP_SEQUENCES} stop sequences", "stop")
        cfg["stopSequences"] = stops
    rf = body.get("response_format")
    if isinstance(rf, dict):
        kind = rf.get("type")
        if kind == "json_object":
            cfg["responseMimeType"] = "application/json"
        elif kind == "json_schema":
            schema = obj(rf.get("json_schema")).get("schema")
            cfg["responseMimeType"] = "application/json"
            if schema is not None:
                cfg["responseSchema"] = with_property_ordering(
                    to_gemini_schema(schema, "response_format.json_schema.schema")
                )
        elif kind not in (None, "text"):
            raise bad_request(f"unsupported response_format type {kind!r}", "response_format")
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise bad_request(
                f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}", "reasoning_effort"
            )
        cfg["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}
    cfg["candidateCount"] = 1  # one answer: OpenAI's `choices[0]`
    return cfg


def to_gemini(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat request body -> a Gemini `generateContent` body (the model is in the
    URL, not the body)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("messages must be a list", "messages")
    system, contents = convert_messages(messages)
    if not contents:
        raise bad_request("Gemini needs at least one user or assistant message", "messages")
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = body.get("tools")
    if tools:
        out["tools"] = convert_tools(tools)
        tc = convert_tool_choice(body.get("tool_choice"))
        if tc is not None:
            out["toolConfig"] = tc
    out["generationConfig"] = generation_config(body)
    google_fields(body, out)
    return out


# Gemini-only fields a client may send beside OpenAI's (the openai SDK's `extra_body`), in
# Gemini's own spelling: where each goes, and the JSON type it must have.
GOOGLE_FIELDS: dict[str, tuple[str | None, type]] = {
    "safetySettings": (None, list),
    "cachedContent": (None, str),
    "thinkingConfig": ("generationConfig", dict),
}


def google_fields(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Pass Gemini-only request fields through (the upstream checks their insides)."""
    for key, (under, kind) in GOOGLE_FIELDS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise bad_request(
                f"{key} must be a JSON {kind.__name__.replace('dict', 'object')}", key
            )
        (out[under] if under else out)[key] = value
