"""Mock Google upstreams on loopback: the Gemini API, Vertex AI, and an OAuth token endpoint.

The Gemini and Vertex mocks answer with the documented bodies and SSE streams under
tests/fixtures/gemini/ (chosen by the upstream model name, e.g. `gemini-tools`), and check
what they receive the way Google does: the credential (the `x-goog-api-key` header, never a
`key=` in the URL; on Vertex a bearer token the token server issued and that has not
expired), the path, and the body (known fields only, parts with one datum each, roles
user/model, as many function responses as the previous turn made calls, schemas without
the JSON Schema keywords Gemini refuses). A malformed request gets Google's 400.

The token server is the `token_uri` of a service-account file made for the test (a fresh
RSA key): it verifies the JWT assertion google-auth signs (RS256, issuer, audience, scope)
and issues short-lived access tokens.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.mock_providers import Call, Invalid, MockProvider, fake_vector

GEMINI_KEY = "gm-upstream-secret"
CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# A service account's assertion names Google's token endpoint as its audience, wherever the
# key file's token_uri sends it.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

SCENARIOS = {
    "gemini-text": "text",
    "gemini-tools": "tool_call",
    "gemini-parallel": "parallel_tools",
    "gemini-length": "max_tokens",
    "gemini-json": "json",
    "gemini-safety": "safety",
    "gemini-blocked": "prompt_blocked",
    "gemini-thinking": "thinking",
    "gemini-malformed": "malformed_call",
    "gemini-cut": "cut",
    "gemini-stream-error": "stream_error",
    "gemini-2.5-flash": "text",  # a real name, for configs made from the environment
}
ERRORS = {
    "gemini-ratelimited": (429, "error_rate_limit"),
    "gemini-invalid": (400, "error_invalid_argument"),
    "gemini-unavailable": (503, "error_unavailable"),
    "gemini-missing": (404, "error_not_found"),
}

TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
GENERATION_CONFIG = {
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
}
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}


def google_error(status: int, gstatus: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": gstatus}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def check_schema(s: Any, where: str) -> None:
    if not isinstance(s, dict):
        raise Invalid(f"{where}: a schema must be an object")
    for k, v in s.items():
        if k not in SCHEMA_KEYS:
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{k}\" at '{where}'")
        if k == "type" and v not in SCHEMA_TYPES:
            raise Invalid(f"{where}.type: invalid value {v!r}")
        if k == "enum" and (s.get("type") != "STRING" or not all(isinstance(e, str) for e in v)):
            raise Invalid(f"{where}.enum: only for STRING type, with string values")
        if k == "format" and v not in ("enum", "date-time", "float", "double", "int32", "int64"):
            raise Invalid(f"{where}.format: only 'enum' and 'date-time' are supported for STRING")
    for name, sub in (s.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}]")
    if "items" in s:
        check_schema(s["items"], f"{where}.items")
    if s.get("type") == "ARRAY" and "items" not in s:
        raise Invalid(f"{where}.items: missing field")
    for i, sub in enumerate(s.get("anyOf") or []):
        check_schema(sub, f"{where}.anyOf[{i}]")
    for r in s.get("required") or []:
        if r not in (s.get("properties") or {}):
            raise Invalid(f"{where}.required[{r}]: property is not defined")


def check_gemini(body: dict[str, Any]) -> None:
    """The rules of Gemini's GenerateContentRequest that a translation can break."""
    for k in body:
        if k not in TOP_LEVEL:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{k}": Cannot find field.')
    for k in body.get("generationConfig") or {}:
        if k not in GENERATION_CONFIG:
            raise Invalid(
                f"Invalid JSON payload received. Unknown name \"{k}\" at 'generation_config'"
            )
    gc = body.get("generationConfig") or {}
    if "responseSchema" in gc:
        if gc.get("responseMimeType") != "application/json":
            raise Invalid("response_mime_type must be application/json with a response_schema")
        check_schema(gc["responseSchema"], "generation_config.response_schema")
    system = body.get("systemInstruction")
    if system is not None and (
        not isinstance(system.get("parts"), list)
        or not all(isinstance(p.get("text"), str) for p in system["parts"])
    ):
        raise Invalid("system_instruction: parts of text are required")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    pending: list[str] = []  # names of the function calls the next turn must answer
    for i, c in enumerate(contents):
        where = f"contents[{i}]"
        if c.get("role") not in ("user", "model"):
            raise Invalid(f"{where}.role: Please use a valid role: user, model.")
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Invalid(f"{where}.parts: must not be empty")
        calls, answers = [], []
        for j, p in enumerate(parts):
            data = [k for k in PART_DATA if k in p]
            if len(data) != 1:
                raise Invalid(f"{where}.parts[{j}]: exactly one data field is required")
            kind = data[0]
            if kind == "text" and not isinstance(p["text"], str):
                raise Invalid(f"{where}.parts[{j}].text: must be a string")
            if kind == "inlineData" and not (
                p["inlineData"].get("mimeType") and p["inlineData"].get("data")
            ):
                raise Invalid(f"{where}.parts[{j}].inline_data: mime_type and data are required")
            if kind == "functionCall":
                fc = p["functionCall"]
                if (
                    c["role"] != "model"
                    or not fc.get("name")
                    or not isinstance(fc.get("args"), dict)
                ):
                    raise Invalid(
                        f"{where}.parts[{j}].function_call: name and args, in a model turn"
                    )
                calls.append(fc["name"])
            if kind == "functionResponse":
                fr = p["functionResponse"]
                if (
                    c["role"] != "user"
                    or not fr.get("name")
                    or not isinstance(fr.get("response"), dict)
                ):
                    raise Invalid(f"{where}.parts[{j}].function_response: name and response object")
                answers.append(fr["name"])
        if pending and sorted(answers) != sorted(pending):
            raise Invalid(
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )
        if answers and not pending:
            raise Invalid(f"{where}: a function response answers no function call")
        pending = calls
    declared = set()
    for t in body.get("tools") or []:
        for n, d in enumerate(t.get("functionDeclarations") or []):
            if not d.get("name"):
                raise Invalid(f"tools.function_declarations[{n}].name: required")
            declared.add(d["name"])
            if "parameters" in d:
                check_schema(d["parameters"], f"tools.function_declarations[{n}].parameters")
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if fcc is not None:
        if fcc.get("mode") not in ("AUTO", "ANY", "NONE"):
            raise Invalid("tool_config.function_calling_config.mode: invalid value")
        names = fcc.get("allowedFunctionNames")
        if names and (fcc["mode"] != "ANY" or not set(names) <= declared):
            raise Invalid("allowed_function_names: only with mode ANY, naming declared functions")


def _last_turn_answers(body: dict[str, Any]) -> bool:
    contents = body.get("contents") or []
    return bool(contents) and any("functionResponse" in p for p in contents[-1].get("parts") or [])


@dataclass
class GoogleMock(MockProvider):
    """What the Gemini API and Vertex AI have in common: the content endpoints."""

    provider: str = "gemini"

    def authorised(self, request: web.Request) -> web.Response | None:
        raise NotImplementedError

    async def model_call(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["name"].partition(":")
        denied = self.authorised(request)
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        self.calls.append(Call(request.path_qs, dict(request.headers), body))
        if denied is not None:
            return denied
        if method in ("generateContent", "streamGenerateContent"):
            return await self.generate(request, model, method, body)
        return await self.embed(request, model, method, body)

    async def generate(
        self, request: web.Request, model: str, method: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":
            return google_error(400, "INVALID_ARGUMENT", "this mock streams alt=sse only")
        try:
            check_gemini(body)
        except Invalid as e:
            return google_error(400, "INVALID_ARGUMENT", str(e))
        if model in ERRORS:
            status, error = ERRORS[model]
            return self.json_file(f"{error}.json", status)
        name = SCENARIOS.get(model)
        if name is None:
            return self.json_file("error_not_found.json", 404)
        if name == "tool_call" and _last_turn_answers(body):
            name = "tool_answer"
        if name == "parallel_tools" and _last_turn_answers(body):
            name = "tool_answer"
        if stream:
            return await self.sse_file(request, f"{name}.sse")
        if name in ("cut", "stream_error"):
            name = "text"
        return self.json_file(f"{name}.json")

    async def embed(
        self, request: web.Request, model: str, method: str, body: dict[str, Any]
    ) -> web.Response:
        raise NotImplementedError


@dataclass
class MockGemini(GoogleMock):
    key: str = GEMINI_KEY

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{name}", self.model_call)

    def authorised(self, request: web.Request) -> web.Response | None:
        if "key" in request.query:
            return google_error(400, "INVALID_ARGUMENT", "this mock wants the key in a header")
        if request.headers.get("x-goog-api-key") != self.key:
            return self.json_file("error_api_key_invalid.json", 400)
        return None

    async def embed(
        self, request: web.Request, model: str, method: str, body: dict[str, Any]
    ) -> web.Response:
        if method == "embedContent":
            if set(body) - {"content", "taskType", "outputDimensionality", "model", "title"}:
                return google_error(400, "INVALID_ARGUMENT", "Unknown name in EmbedContentRequest")
            text = body["content"]["parts"][0]["text"]
            answer: dict[str, Any] = {"embedding": {"values": fake_vector(text)}}
        elif method == "batchEmbedContents":
            reqs = body.get("requests") or []
            if any(r.get("model") != f"models/{model}" for r in reqs):
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    f"* BatchEmbedContentsRequest.model: unexpected model name format; each "
                    f"request's model must be models/{model}",
                )
            if len(reqs) > 100:
                return google_error(
                    400, "INVALID_ARGUMENT", "at most 100 requests can be in one batch"
                )
            answer = {
                "embeddings": [
                    {"values": fake_vector(r["content"]["parts"][0]["text"])} for r in reqs
                ]
            }
        else:
            return google_error(404, "NOT_FOUND", f"method {method} not found")
        return web.json_response(answer)


@dataclass
class MockVertex(GoogleMock):
    provider: str = "gemini"
    tokens: TokenServer | None = None
    project: str = "my-project"
    location: str = "us-central1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{name}",
            self.checked_call,
        )

    async def checked_call(self, request: web.Request) -> web.StreamResponse:
        if (request.match_info["project"], request.match_info["location"]) != (
            self.project,
            self.location,
        ):
            return google_error(404, "NOT_FOUND", "Project or location not found")
        return await self.model_call(request)

    def authorised(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or self.tokens is None or not self.tokens.valid(token):
            return self.json_file("error_unauthenticated.json", 401)
        return None

    async def embed(
        self, request: web.Request, model: str, method: str, body: dict[str, Any]
    ) -> web.Response:
        if method != "predict":
            return google_error(404, "NOT_FOUND", f"method {method} not found")
        instances = body.get("instances")
        if not isinstance(instances, list) or not all(
            isinstance(i.get("content"), str) for i in instances
        ):
            return google_error(400, "INVALID_ARGUMENT", "instances[].content is required")
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 8
        preds = [
            {
                "embeddings": {
                    "statistics": {"truncated": False, "token_count": len(i["content"].split())},
                    "values": fake_vector(i["content"], dims),
                }
            }
            for i in instances
        ]
        chars = sum(len(i["content"]) for i in instances)
        return web.json_response(
            {"predictions": preds, "metadata": {"billableCharacterCount": chars}}
        )


# --- OAuth ----------------------------------------------------------------------------------


@dataclass
class TokenServer:
    """Google's OAuth token endpoint for service accounts (the JWT bearer grant, RFC 7523)."""

    lifetime: int = 3600  # expires_in of each token issued
    url: str = ""
    public_keys: dict[str, Any] = field(default_factory=dict)  # client_email -> RSA public key
    issued: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    requests: int = 0
    fail_next: int = 0
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self.token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/token"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def valid(self, token: str) -> bool:
        exp = self.issued.get(token)
        return exp is not None and exp > time.time()

    def service_account(
        self, directory: Path, email: str = "aigw-test@my-project.iam.gserviceaccount.com"
    ) -> Path:
        """A service-account key file whose token_uri is this server (a fresh RSA key)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.public_keys[email] = key.public_key()
        info = {
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": pem,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(info))
        return path

    async def token(self, request: web.Request) -> web.Response:
        self.requests += 1
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._error("unsupported_grant_type", "Invalid grant_type.")
        assertion = str(form.get("assertion") or "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            key = self.public_keys[unverified["iss"]]
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=unverified["iss"],
            )
        except (jwt.PyJWTError, KeyError):
            return self._error("invalid_grant", "Invalid JWT Signature.")
        if CLOUD_SCOPE not in str(claims.get("scope", "")).split():
            return self._error(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"error": "internal_failure"}, status=500)
        token = f"ya29.test-{next(self._counter)}"
        self.issued[token] = time.time() + self.lifetime
        return web.json_response(
            {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}
        )

    def _error(self, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=400)
