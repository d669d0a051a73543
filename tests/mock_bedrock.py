"""A mock bedrock-runtime on loopback: checks each request's SigV4 signature the way AWS
does (recomputed with botocore from the same fake credentials, over the raw path, the
signed headers and the exact body bytes), the model id's encoding in the path, and the
Converse body's rules; answers with the documented shapes (tests/fixtures/bedrock/), streams
in the binary event-stream framing (`encode_frame`, CRCs included).

The model id picks the scenario (`MODELS`); every call is recorded.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from tests.mock_providers import Call, fake_vector, fixture, fixture_json

# Fake credentials, in AWS's documented example format: nothing here is real.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
REGION = "eu-west-3"

# Model id -> scenario.
MODELS = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": "text",
    "us.anthropic.claude-tools-v1:0": "tool_use",
    "anthropic.claude-cached-v1:0": "cached",
    "anthropic.claude-length-v1:0": "max_tokens",
    "anthropic.claude-reasoning-v1:0": "reasoning",
    "anthropic.claude-throttled-v1:0": "throttled",
    "anthropic.claude-throttle-once-v1:0": "throttle_once",
    "anthropic.claude-invalid-v1:0": "validation",
    "anthropic.claude-denied-v1:0": "access_denied",
    "anthropic.claude-unavailable-v1:0": "unavailable",
    "anthropic.claude-cut-v1:0": "cut",
    "anthropic.claude-stream-throttled-v1:0": "stream_throttled",
    "anthropic.claude-stream-error-v1:0": "stream_model_error",
    "amazon.titan-embed-text-v2:0": "titan",
    "cohere.embed-english-v3": "cohere",
}
ERRORS = {  # scenario -> (status, x-amzn-ErrorType, fixture)
    "throttled": (429, "ThrottlingException", "error_throttling.json"),
    "throttle_once": (429, "ThrottlingException", "error_throttling.json"),
    "validation": (400, "ValidationException", "error_validation.json"),
    "access_denied": (403, "AccessDeniedException", "error_access_denied.json"),
    "unavailable": (503, "ServiceUnavailableException", "error_unavailable.json"),
}
CONVERSE_KEYS = {
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
    "additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
    "requestMetadata", "performanceConfig",
}  # fmt: skip
INFERENCE_KEYS = {"maxTokens", "temperature", "topP", "stopSequences"}
BLOCK_KEYS = {"text", "image", "document", "video", "toolUse", "toolResult", "reasoningContent", "cachePoint", "guardContent"}  # fmt: skip


# --- the binary event-stream framing -------------------------------------------------------


def encode_headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        out += struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v  # 7: string
    return out


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One message: prelude (total length, headers length, prelude CRC), headers, payload,
    message CRC; CRC32 as botocore checks it."""
    h = encode_headers(headers)
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack("!II", total, len(h))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + h + payload
    return body + struct.pack("!I", binascii.crc32(body) & 0xFFFFFFFF)


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return encode_frame(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        orjson.dumps(payload),
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        orjson.dumps({"message": message}),
    )


def events_file(name: str) -> bytes:
    """A fixture's list of [event type, payload] as the bytes of an event stream."""
    return b"".join(event_frame(t, p) for t, p in fixture_json("bedrock", name))


# --- SigV4, checked as AWS checks it ------------------------------------------------------


def check_signature(request: web.Request, body: bytes, token: str | None) -> str | None:
    """None if the request is signed right with the fake credentials; else AWS's error type."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "MissingAuthenticationTokenException"
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    key, date, region, service, term = parts["Credential"].split("/")
    if key != ACCESS_KEY or (token and request.headers.get("X-Amz-Security-Token") != token):
        return "UnrecognizedClientException"
    amz_date = request.headers.get("X-Amz-Date", "")
    if region != REGION or service != "bedrock" or term != "aws4_request" or amz_date[:8] != date:
        return "InvalidSignatureException"
    signed = parts["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "InvalidSignatureException"
    url = f"http://{request.headers['Host']}{request.raw_path}"
    again = AWSRequest(
        method=request.method,
        url=url,
        data=body,
        headers={h: request.headers[h] for h in signed if h in request.headers},
    )
    again.context["timestamp"] = amz_date
    signer = SigV4Auth(ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, token), "bedrock", REGION)
    expected = signer.signature(
        signer.string_to_sign(again, signer.canonical_request(again)), again
    )
    return None if expected == parts["Signature"] else "InvalidSignatureException"


def aws_error(status: int, kind: str, body: bytes) -> web.Response:
    return web.Response(
        status=status,
        body=body,
        content_type="application/json",
        headers={
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
    )


def validation(message: str) -> web.Response:
    return aws_error(400, "ValidationException", orjson.dumps({"message": message}))


class Invalid(Exception):
    pass


@functools.cache
def service_model() -> Any:
    """bedrock-runtime's own API model, as botocore ships it (`service-2.json`)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("bedrock-runtime")


def _blobs_decoded(value: Any) -> Any:
    """The JSON wire form of blobs is base64; botocore's validator wants bytes."""
    if isinstance(value, dict):
        out = {k: _blobs_decoded(v) for k, v in value.items()}
        src = out.get("source")
        if isinstance(src, dict) and isinstance(src.get("bytes"), str):
            out["source"] = {**src, "bytes": binascii.a2b_base64(src["bytes"])}
        return out
    if isinstance(value, list):
        return [_blobs_decoded(v) for v in value]
    return value


def check_shape(operation: str, model: str, body: dict[str, Any]) -> None:
    """The body against the operation's input shape in AWS's service model: member names,
    types, required members, unions with exactly one member set."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    shape = service_model().operation_model(operation).input_shape
    try:
        validate_parameters({**_blobs_decoded(body), "modelId": model}, shape)
    except ParamValidationError as e:
        raise Invalid(str(e).replace("\n", " ")) from None


def check_converse(body: dict[str, Any]) -> None:
    """Converse's rules, as the service applies them."""
    extra = set(body) - CONVERSE_KEYS
    if extra:
        raise Invalid(f"Unknown parameter in input: {sorted(extra)[0]!r}")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("A conversation must start with a user message.")
    if msgs[0].get("role") != "user":
        raise Invalid("A conversation must start with a user message. Try again.")
    tool_blocks = False
    open_calls: set[str] = set()
    for i, m in enumerate(msgs):
        if i and m.get("role") == msgs[i - 1].get("role"):
            raise Invalid("A conversation must alternate between user and assistant roles.")
        content = m.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid(f"The content field in the Message object at messages.{i} is empty.")
        for b in content:
            if len(b) != 1 or next(iter(b)) not in BLOCK_KEYS:
                raise Invalid(f"messages.{i}: a content block holds exactly one member")
            if "text" in b and not str(b["text"]).strip():
                raise Invalid(
                    f"The text field in the ContentBlock object at messages.{i} is blank."
                )
            if "image" in b:
                img = b["image"]
                if img.get("format") not in ("png", "jpeg", "gif", "webp"):
                    raise Invalid("image.format must be png, jpeg, gif or webp")
                binascii.a2b_base64(img["source"]["bytes"])  # blobs are base64 in JSON
            if "toolUse" in b:
                tool_blocks = True
                if not isinstance(b["toolUse"].get("input"), dict):
                    raise Invalid("toolUse.input must be a JSON object")
                open_calls.add(b["toolUse"]["toolUseId"])
            if "toolResult" in b:
                tool_blocks = True
                if b["toolResult"]["toolUseId"] not in open_calls:
                    raise Invalid("toolResult.toolUseId does not match a previous toolUse")
    if tool_blocks and "toolConfig" not in body:
        raise Invalid(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for s in body.get("system") or []:
        if not str(s.get("text", "")).strip():
            raise Invalid("The text field in the SystemContentBlock object is blank.")
    inf = body.get("inferenceConfig") or {}
    if set(inf) - INFERENCE_KEYS:
        raise Invalid(
            f"Unknown parameter in inferenceConfig: {sorted(set(inf) - INFERENCE_KEYS)[0]!r}"
        )
    tc = body.get("toolConfig")
    if tc is not None:
        for t in tc.get("tools") or []:
            spec = t.get("toolSpec") or {}
            if not spec.get("name") or not isinstance(
                (spec.get("inputSchema") or {}).get("json"), dict
            ):
                raise Invalid("toolSpec needs a name and inputSchema.json")


@dataclass
class MockBedrock:
    token: str | None = None  # the session token the signer must send, when set
    chunk_size: int = 29  # stream bodies go out in pieces that split frames
    calls: list[Call] = field(default_factory=list)
    raw_paths: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/{model}/{op}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        model, op = request.match_info["model"], request.match_info["op"]
        self.raw_paths.append(request.raw_path)
        refused = check_signature(request, raw, self.token)
        if refused:
            return aws_error(
                403,
                refused,
                b'{"message":"The request signature we calculated does not match the signature you provided."}',
            )
        if request.raw_path != f"/model/{quote(model, safe='')}/{op}":
            return aws_error(404, "UnknownOperationException", b"{}")
        body = orjson.loads(raw)
        self.calls.append(Call(request.raw_path, dict(request.headers), body))
        scenario = MODELS.get(model)
        if scenario is None:
            return aws_error(
                400,
                "ValidationException",
                b'{"message":"The provided model identifier is invalid."}',
            )
        n = self.counts[model] = self.counts.get(model, 0) + 1
        if scenario in ERRORS and not (scenario == "throttle_once" and n > 1):
            status, kind, name = ERRORS[scenario]
            return aws_error(status, kind, fixture("bedrock", name))
        if op == "invoke":
            return self.invoke(scenario, body)
        try:
            check_shape("ConverseStream" if op == "converse-stream" else "Converse", model, body)
            check_converse(body)
        except Invalid as e:
            return validation(str(e))
        if op == "converse-stream":
            if request.headers.get("Accept") != "application/vnd.amazon.eventstream":
                return validation("converse-stream answers application/vnd.amazon.eventstream")
            return await self.stream(request, scenario, body)
        if op != "converse":
            return aws_error(404, "UnknownOperationException", b"{}")
        return web.Response(
            body=fixture("bedrock", self.answer_file(scenario, body, ".json")),
            content_type="application/json",
        )

    def answer_file(self, scenario: str, body: dict[str, Any], ext: str) -> str:
        if scenario in ("throttle_once", "stream_throttled", "stream_model_error"):
            scenario = "text"
        last = body["messages"][-1]["content"]
        if scenario == "tool_use" and any("toolResult" in b for b in last):
            scenario = "tool_answer"
        return f"{scenario}{'.events.json' if ext != '.json' else '.json'}"

    async def stream(
        self, request: web.Request, scenario: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "application/vnd.amazon.eventstream"}
        )
        await resp.prepare(request)
        if scenario == "stream_throttled":  # refused before the answer begins
            data = exception_frame("throttlingException", "Too many tokens, please wait.")
        elif scenario == "stream_model_error":  # the model fails part-way
            frames = fixture_json("bedrock", "text.events.json")[:2]
            data = b"".join(event_frame(t, p) for t, p in frames)
            data += exception_frame("modelStreamErrorException", "The model stopped unexpectedly.")
        elif scenario == "cut":  # the connection drops before messageStop
            data = b"".join(
                event_frame(t, p) for t, p in fixture_json("bedrock", "text.events.json")[:3]
            )
            data += event_frame(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}
            )[:20]
        else:
            data = events_file(self.answer_file(scenario, body, ".events"))
        for i in range(0, len(data), self.chunk_size):
            await resp.write(data[i : i + self.chunk_size])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    def invoke(self, scenario: str, body: dict[str, Any]) -> web.Response:
        if scenario == "titan":
            if set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
                return validation("Malformed input request: extraneous key is not permitted")
            if not isinstance(body.get("inputText"), str):
                return validation("Malformed input request: inputText is required")
            doc = fixture_json("bedrock", "titan_embed.json")
            if body["inputText"] != "hello world":
                vec = fake_vector(body["inputText"], body.get("dimensions") or 8)
                doc = {
                    "embedding": vec,
                    "embeddingsByType": {"float": vec},
                    "inputTextTokenCount": 3,
                }
            return web.Response(body=orjson.dumps(doc), content_type="application/json")
        if scenario == "cohere":
            texts = body.get("texts")
            if not isinstance(texts, list) or body.get("input_type") not in (
                "search_document", "search_query", "classification", "clustering",
            ):  # fmt: skip
                return validation("Malformed input request: texts and input_type are required")
            if "model" in body:
                return validation(
                    "Malformed input request: extraneous key [model] is not permitted"
                )
            doc = fixture_json("bedrock", "cohere_embed.json")
            if texts != doc["texts"]:
                doc["texts"] = texts
                doc["embeddings"] = {"float": [fake_vector(t) for t in texts]}
            return web.Response(body=orjson.dumps(doc), content_type="application/json")
        return validation("This model does not support InvokeModel here")
