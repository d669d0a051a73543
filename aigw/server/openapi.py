"""GET /openapi.json: the OpenAPI 3.1 description of every route the app serves.

`PATHS` holds one entry per path and method. tests/test_openapi.py compares it with the
app's router both ways (every route documented, nothing documented that is not routed), so
a new route fails the suite until its entry is written here. Schemas describe what the
gateway checks and answers; provider fields it passes through stay open
(`additionalProperties`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aigw import __version__
from aigw.config import Config
from aigw.server.state import CONFIG

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, Schema], required: tuple[str, ...] = (), open_: bool = True) -> Schema:
    s: Schema = {"type": "object", "properties": props, "additionalProperties": open_}
    if required:
        s["required"] = list(required)
    return s


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(s: Schema) -> Schema:
    return {"anyOf": [s, {"type": "null"}]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}


def list_of(item: Schema) -> Schema:
    return obj({"object": {"const": "list"}, "data": arr(item)}, ("object", "data"))


def page(item: Schema) -> Schema:
    """A list page with OpenAI's cursor fields."""
    return obj(
        {
            "object": {"const": "list"},
            "data": arr(item),
            "first_id": nullable(STR),
            "last_id": nullable(STR),
            "has_more": BOOL,
        },
        ("object", "data", "has_more"),
    )


SCHEMAS: dict[str, Schema] = {
    # --- errors --------------------------------------------------------------------------
    "Error": obj(
        {
            "error": obj(
                {
                    "message": STR,
                    "type": STR,
                    "param": nullable(STR),
                    "code": nullable(STR),
                },
                ("message", "type"),
            )
        },
        ("error",),
        open_=False,
    ),
    "AnthropicError": obj(
        {
            "type": {"const": "error"},
            "error": obj({"type": STR, "message": STR}, ("type", "message")),
        },
        ("type", "error"),
    ),
    # --- OpenAI-compatible ---------------------------------------------------------------
    "ChatMessage": obj(
        {"role": STR, "content": nullable({"anyOf": [STR, arr(ANY)]}), "name": STR},
        ("role",),
    ),
    "ChatCompletionRequest": obj(
        {
            "model": {"type": "string", "minLength": 1},
            "messages": {"type": "array", "items": ref("ChatMessage"), "minItems": 1},
            "stream": BOOL,
            "stream_options": nullable(obj({"include_usage": BOOL})),
            "max_tokens": nullable(INT),
            "temperature": nullable(NUM),
            "tools": arr(ANY),
            "user": STR,
        },
        ("model", "messages"),
    ),
    "Usage": obj(
        {"prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT},
        ("prompt_tokens", "completion_tokens"),
    ),
    "ChatCompletion": obj(
        {
            "id": STR,
            "object": {"const": "chat.completion"},
            "created": INT,
            "model": STR,
            "choices": arr(
                obj(
                    {
                        "index": INT,
                        "message": obj({"role": STR, "content": nullable(STR)}),
                        "finish_reason": nullable(STR),
                    },
                    ("index", "message"),
                )
            ),
            "usage": nullable(ref("Usage")),
        },
        ("id", "object", "choices", "model"),
    ),
    "EmbeddingRequest": obj(
        {
            "model": {"type": "string", "minLength": 1},
            "input": {"anyOf": [STR, arr(STR), arr(INT), arr(arr(INT))]},
            "encoding_format": {"enum": ["float", "base64"]},
            "dimensions": INT,
            "user": STR,
        },
        ("model", "input"),
    ),
    "EmbeddingList": obj(
        {
            "object": {"const": "list"},
            "data": arr(
                obj(
                    {
                        "object": {"const": "embedding"},
                        "index": INT,
                        "embedding": {"anyOf": [arr(NUM), STR]},
                    },
                    ("object", "index", "embedding"),
                )
            ),
            "model": STR,
            "usage": obj({"prompt_tokens": INT, "total_tokens": INT}),
        },
        ("object", "data"),
    ),
    "Model": obj(
        {"id": STR, "object": {"const": "model"}, "created": INT, "owned_by": STR},
        ("id", "object"),
    ),
    "ModelList": list_of(ref("Model")),
    # --- Anthropic-compatible ------------------------------------------------------------
    "MessagesRequest": obj(
        {
            "model": {"type": "string", "minLength": 1},
            "messages": arr(obj({"role": {"enum": ["user", "assistant"]}, "content": ANY})),
            "max_tokens": INT,
            "system": {"anyOf": [STR, arr(ANY)]},
            "stream": BOOL,
            "tools": arr(ANY),
        },
        ("model", "messages", "max_tokens"),
    ),
    "Message": obj(
        {
            "id": STR,
            "type": {"const": "message"},
            "role": {"const": "assistant"},
            "model": STR,
            "content": arr(obj({"type": STR}, ("type",))),
            "stop_reason": nullable(STR),
            "usage": obj({"input_tokens": INT, "output_tokens": INT}),
        },
        ("id", "type", "role", "content"),
    ),
    "CountTokensRequest": obj(
        {
            "model": {"type": "string", "minLength": 1},
            "messages": arr(obj({"role": {"enum": ["user", "assistant"]}, "content": ANY})),
            "system": {"anyOf": [STR, arr(ANY)]},
            "tools": arr(ANY),
        },
        ("model", "messages"),
    ),
    "TokenCount": obj({"input_tokens": INT}, ("input_tokens",)),
    # --- Responses (OpenAI; docs/API.md#responses) ---------------------------------------
    "ResponseRequest": obj(
        {
            "model": {"type": "string", "minLength": 1},
            "input": {"anyOf": [STR, arr(ANY)]},
            "instructions": nullable(STR),
            "tools": arr(ANY),
            "tool_choice": ANY,
            "parallel_tool_calls": nullable(BOOL),
            "text": nullable(obj({"format": ANY})),
            "reasoning": nullable(obj({"effort": nullable(STR)})),
            "max_output_tokens": nullable(INT),
            "temperature": nullable(NUM),
            "top_p": nullable(NUM),
            "metadata": nullable(obj({})),
            "user": nullable(STR),
            "store": nullable(BOOL),
            "previous_response_id": nullable(STR),
            "stream": nullable(BOOL),
        },
        ("model", "input"),
    ),
    "Response": obj(
        {
            "id": STR,
            "object": {"const": "response"},
            "created_at": NUM,
            "status": STR,
            "model": STR,
            "output": arr(ANY),
            "usage": nullable(ANY),
            "previous_response_id": nullable(STR),
        },
        ("id", "object", "status", "output"),
    ),
    "ResponseDeleted": obj(
        {"id": STR, "object": {"const": "response"}, "deleted": BOOL}, ("id", "deleted")
    ),
    "ResponseInputItems": page(ANY),
    # --- usage ---------------------------------------------------------------------------
    "UsageRow": obj(
        {
            "requests": INT,
            "prompt_tokens": INT,
            "completion_tokens": INT,
            "cached_tokens": INT,
            "total_tokens": INT,
            "cost_usd": NUM,
            "saved_usd": NUM,
            "cache_hits": INT,
            "model": nullable(STR),
            "day": nullable(STR),
            "key": nullable(STR),
            "org": nullable(STR),
        },
        ("requests", "cost_usd"),
    ),
    "UsageReport": obj(
        {
            "object": {"const": "usage"},
            "org": nullable(STR),
            "key": nullable(STR),
            "since": nullable(STR),
            "until": nullable(STR),
            "totals": ref("UsageRow"),
            "by_model": arr(ref("UsageRow")),
            "by_day": arr(ref("UsageRow")),
            "by_key": arr(ref("UsageRow")),
            "by_org": arr(ref("UsageRow")),
        },
        ("object", "totals"),
    ),
    "CostRow": obj(
        {"requests": INT, "cost_usd": NUM, "saved_usd": NUM},
        ("requests", "cost_usd", "saved_usd"),
    ),
    "CostReport": obj(
        {
            "object": {"const": "costs"},
            "currency": {"const": "usd"},
            "totals": ref("CostRow"),
            "by_model": arr(ref("CostRow")),
            "by_day": arr(ref("CostRow")),
            "by_key": arr(ref("CostRow")),
            "by_org": arr(ref("CostRow")),
        },
        ("object", "totals"),
    ),
    # --- admin ---------------------------------------------------------------------------
    "ApiKeyCreate": obj(
        {
            "org": {"type": "string", "minLength": 1},
            "user": nullable(STR),
            "name": nullable(STR),
            "expires_in": nullable({"anyOf": [STR, NUM]}),
            "models": nullable(arr(STR)),
            "scopes": nullable(arr(STR)),
            "limits": nullable({"type": "object"}),
            "budget": nullable(
                obj(
                    {
                        "usd_per_day": nullable(NUM),
                        "usd_per_month": nullable(NUM),
                        "tokens_per_day": nullable(INT),
                        "tokens_per_month": nullable(INT),
                    },
                    open_=False,
                )
            ),
            "priority": nullable(INT),
            "may_set_priority": BOOL,
            "cache_enabled": BOOL,
        },
        ("org",),
    ),
    "ApiKey": obj(
        {
            "object": {"const": "api_key"},
            "id": STR,
            "org": STR,
            "user": nullable(STR),
            "name": STR,
            "prefix": STR,
            "scopes": arr(STR),
            "models": nullable(arr(STR)),
            "limits": {"type": "object"},
            "budget": nullable({"type": "object"}),
            "priority": INT,
            "expires_at": nullable(NUM),
            "created_at": NUM,
            "last_used_at": nullable(NUM),
            "revoked_at": nullable(NUM),
            "replaced_by": nullable(STR),
            "status": {"enum": ["active", "revoked", "expired"]},
        },
        ("id", "org", "prefix", "status"),
    ),
    "ApiKeyCreated": {
        "allOf": [ref("ApiKey"), obj({"key": STR}, ("key",))],
        "description": "The only time the key itself is shown.",
    },
    "ApiKeyRotated": {
        "allOf": [ref("ApiKey"), obj({"key": STR, "old": ref("ApiKey")}, ("key", "old"))]
    },
    "Rotate": obj({"grace": nullable({"anyOf": [STR, NUM]})}),
    "User": obj(
        {
            "id": STR,
            "org": STR,
            "email": nullable(STR),
            "role": STR,
            "created_at": NUM,
            "active_keys": INT,
        },
        ("id", "org"),
    ),
    "Deployment": obj(
        {
            "id": {"type": "string", "description": "<provider>/<upstream model>"},
            "in_flight": INT,
            "queued": INT,
            "limit": nullable(INT),
            "breaker_state": {"enum": ["closed", "open", "half_open"]},
            "breaker_retry_in_s": NUM,
            "breaker_trips": INT,
            "ewma_ms": nullable(NUM),
            "calls": INT,
            "failures": INT,
            "queue_rejected": INT,
        },
        ("id", "breaker_state", "in_flight"),
    ),
    "Period": obj(
        {
            "since": STR,
            "requests": INT,
            "errors": INT,
            "prompt_tokens": INT,
            "completion_tokens": INT,
            "total_tokens": INT,
            "cost_usd": NUM,
            "saved_usd": NUM,
            "cache_hits": INT,
            "cache_hit_rate": nullable(NUM),
            "latency_ms": obj(
                {"p50": nullable(NUM), "p99": nullable(NUM), "sample": INT},
                ("p50", "p99", "sample"),
            ),
        },
        ("requests", "errors", "cost_usd", "latency_ms"),
    ),
    "Overview": obj(
        {
            "object": {"const": "overview"},
            "today": ref("Period"),
            "last_7_days": ref("Period"),
            "by_day": arr(ref("UsageRow")),
        },
        ("object", "today", "last_7_days", "by_day"),
    ),
    "RequestRow": obj(
        {
            "id": STR,
            "request_id": STR,
            "ts": NUM,
            "org": STR,
            "user": nullable(STR),
            "key_id": nullable(STR),
            "key_prefix": nullable(STR),
            "endpoint": STR,
            "model": STR,
            "provider": nullable(STR),
            "deployment": nullable(STR),
            "status": INT,
            "latency_ms": NUM,
            "prompt_tokens": INT,
            "completion_tokens": INT,
            "cached_tokens": INT,
            "cost_usd": NUM,
            "saved_usd": NUM,
            "cache": nullable(STR),
            "prompt": nullable(STR),
            "answer": nullable(STR),
        },
        ("id", "request_id", "ts", "model", "status"),
    ),
    "RequestList": obj(
        {
            "object": {"const": "list"},
            "data": arr(ref("RequestRow")),
            "has_more": BOOL,
            "log_prompts": BOOL,
        },
        ("object", "data", "has_more"),
    ),
    "AuditEntry": obj(
        {
            "id": INT,
            "ts": NUM,
            "actor": STR,
            "action": STR,
            "target": nullable(STR),
            "detail": ANY,
        },
        ("id", "ts", "actor", "action"),
    ),
    "AuditList": obj(
        {"object": {"const": "list"}, "data": arr(ref("AuditEntry")), "has_more": BOOL},
        ("object", "data", "has_more"),
    ),
    "MetricsSummary": obj(
        {
            "requests": {"type": "object"},
            "latency_seconds": {"type": "object"},
            "tokens": {"type": "object"},
            "cost_usd": NUM,
            "cache": {"type": "object"},
            "providers": {"type": "object"},
        },
        ("requests", "latency_seconds", "cache"),
    ),
    # --- console -------------------------------------------------------------------------
    "SignIn": obj({"key": {"type": "string", "minLength": 1}}, ("key",)),
    "ConsoleSession": obj(
        {
            "object": {"const": "console.session"},
            "actor": STR,
            "expires_at": NUM,
            "csrf_token": STR,
            "log_prompts": BOOL,
            "version": STR,
            "signed_out": BOOL,
        },
        ("object",),
    ),
}

Security = list[dict[str, list[str]]]
KEY: Security = [{"bearer": []}]
ADMIN: Security = [{"bearer": []}, {"console": []}]
ANTHROPIC_KEY: Security = [{"bearer": []}, {"x_api_key": []}]


def examples(model: str) -> dict[str, Any]:
    """A working request per body schema, with a model this gateway serves: tools that call
    the API from this document (schemathesis, client generators) start from a real answer."""
    msgs = [{"role": "user", "content": "Say hello."}]
    return {
        "ChatCompletionRequest": {"model": model, "messages": msgs, "max_tokens": 16},
        "EmbeddingRequest": {"model": model, "input": "hello"},
        "MessagesRequest": {"model": model, "max_tokens": 16, "messages": msgs},
        "CountTokensRequest": {"model": model, "messages": msgs},
        "ResponseRequest": {"model": model, "input": "Say hello.", "max_output_tokens": 16},
        "ApiKeyCreate": {"org": "acme", "name": "svc", "scopes": ["chat"], "models": [model]},
        "SignIn": {"key": "<the admin key>"},
    }


def json_body(schema: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def with_examples(p: dict[str, dict[str, Schema]], model: str) -> dict[str, dict[str, Schema]]:
    ex = examples(model)
    for ops in p.values():
        for o in ops.values():
            media = o.get("requestBody", {}).get("content", {}).get("application/json")
            name = media["schema"].get("$ref", "").rsplit("/", 1)[-1] if media else ""
            if name in ex:
                media["example"] = ex[name]  # type: ignore[index]
    return p


def answer(schema: str | None, what: str = "OK", ctype: str = "application/json") -> Schema:
    if schema is None:
        return {"description": what}
    return {"description": what, "content": {ctype: {"schema": ref(schema)}}}


def errors(*statuses: int, shape: str = "Error") -> dict[str, Schema]:
    """The error answers an operation documents; every one has the same shape."""
    out = {str(s): answer(shape, "error") for s in statuses}
    out["default"] = answer(shape, "any other error, same shape")
    return out


def op(
    summary: str,
    tag: str,
    ok: dict[str, Schema],
    *,
    body: str | None = None,
    auth: list[dict[str, list[str]]] | None = KEY,
    params: list[Schema] | None = None,
    errs: tuple[int, ...] = (400, 401, 403),
    shape: str = "Error",
) -> Schema:
    o: Schema = {
        "summary": summary,
        "tags": [tag],
        "responses": {**ok, **errors(*errs, shape=shape)},
        "security": auth if auth is not None else [],
    }
    if body:
        o["requestBody"] = json_body(body)
    if params:
        o["parameters"] = params
    return o


def query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or STR,
    }


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": STR}


# Server-Sent Events, one schema per event (`data:` holds a JSON chunk, or `[DONE]`).
SSE = {"text/event-stream": {"schema": obj({"event": STR, "data": STR, "id": STR}, ("data",))}}
USAGE_QUERY = [
    query("start", "from (2026-11-01, an ISO time, UNIX seconds, or 7d ago)"),
    query("end", "until (same forms; a bare date includes that day)"),
    query("group_by", "comma-separated: model, day (admins also key, org)"),
    query("org", "an organisation (admins; others: their own)"),
    query("key", "a key id (admins; others: their own)"),
]
PAGE = {"type": "string", "pattern": "^[A-Za-z0-9._:/@-]{1,200}$"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}


def html(what: str) -> dict[str, Schema]:
    return {"200": {"description": what, "content": {"text/html": {"schema": STR}}}}


def paths(metrics_path: str, ui: bool) -> dict[str, dict[str, Schema]]:
    """Every route, by path and method. A new endpoint is one entry here."""
    p: dict[str, dict[str, Schema]] = {
        "/health": {
            "get": op(
                "Liveness", "health", {"200": answer(None, "the process answers")}, auth=[], errs=()
            )
        },
        "/openapi.json": {
            "get": op(
                "This document",
                "health",
                {"200": answer(None, "an OpenAPI 3.1 document")},
                auth=[],
                errs=(),
            )
        },
        "/v1/chat/completions": {
            "post": op(
                "Chat completion (OpenAI); SSE with stream: true",
                "openai",
                {
                    "200": {
                        "description": "a completion, or a stream of chunks",
                        "content": {"application/json": {"schema": ref("ChatCompletion")}, **SSE},
                    }
                },
                body="ChatCompletionRequest",
                errs=(400, 401, 403, 404, 413, 429, 502, 503, 504),
            )
        },
        "/v1/embeddings": {
            "post": op(
                "Embeddings (OpenAI)",
                "openai",
                {"200": answer("EmbeddingList")},
                body="EmbeddingRequest",
                errs=(400, 401, 403, 404, 413, 429, 502, 503, 504),
            )
        },
        "/v1/models": {
            "get": op("Models this credential may use", "openai", {"200": answer("ModelList")})
        },
        "/v1/models/{model}": {
            "get": op(
                "One model",
                "openai",
                {"200": answer("Model")},
                params=[path_param("model", "a model name")],
                errs=(401, 403, 404),
            )
        },
        "/v1/messages": {
            "post": op(
                "Messages (Anthropic); SSE with stream: true",
                "anthropic",
                {
                    "200": {
                        "description": "a message, or a stream of events",
                        "content": {"application/json": {"schema": ref("Message")}, **SSE},
                    }
                },
                body="MessagesRequest",
                auth=ANTHROPIC_KEY,
                errs=(400, 401, 403, 404, 413, 429, 502, 503, 504),
                shape="AnthropicError",
            )
        },
        "/v1/messages/count_tokens": {
            "post": op(
                "Count tokens (Anthropic)",
                "anthropic",
                {"200": answer("TokenCount")},
                body="CountTokensRequest",
                auth=ANTHROPIC_KEY,
                errs=(400, 401, 403, 404, 502),
                shape="AnthropicError",
            )
        },
        "/v1/responses": {
            "post": op(
                "Response (OpenAI Responses API); SSE events with stream: true",
                "openai",
                {
                    "200": {
                        "description": "a response, or a stream of response.* events",
                        "content": {"application/json": {"schema": ref("Response")}, **SSE},
                    }
                },
                body="ResponseRequest",
                errs=(400, 401, 403, 404, 413, 429, 502, 503, 504),
            )
        },
        "/v1/responses/{id}": {
            "get": op(
                "A stored response (this organisation's)",
                "openai",
                {"200": answer("Response")},
                params=[path_param("id", "a response id")],
                errs=(401, 403, 404, 503),
            ),
            "delete": op(
                "Delete a stored response",
                "openai",
                {"200": answer("ResponseDeleted")},
                params=[path_param("id", "a response id")],
                errs=(401, 403, 404, 503),
            ),
        },
        "/v1/responses/{id}/input_items": {
            "get": op(
                "A stored response's input items",
                "openai",
                {"200": answer("ResponseInputItems")},
                params=[
                    path_param("id", "a response id"),
                    query(
                        "limit",
                        "1-100, default 20",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                    ),
                    query("order", "asc or desc (default)", {"enum": ["asc", "desc"]}),
                    query("after", "an item id: the page after it"),
                ],
                errs=(400, 401, 403, 404, 503),
            )
        },
        "/v1/usage": {
            "get": op("Usage report", "usage", {"200": answer("UsageReport")}, params=USAGE_QUERY)
        },
        "/v1/usage/costs": {
            "get": op("Cost report", "usage", {"200": answer("CostReport")}, params=USAGE_QUERY)
        },
        "/v1/admin/api-keys": {
            "get": op(
                "List keys",
                "admin",
                {
                    "200": {
                        "description": "the keys",
                        "content": {"application/json": {"schema": list_of(ref("ApiKey"))}},
                    }
                },
                auth=ADMIN,
                params=[query("org", "only this organisation's keys")],
            ),
            "post": op(
                "Create a key (shown once)",
                "admin",
                {"201": answer("ApiKeyCreated")},
                body="ApiKeyCreate",
                auth=ADMIN,
            ),
        },
        "/v1/admin/api-keys/{key}": {
            "delete": op(
                "Revoke a key",
                "admin",
                {"200": answer("ApiKey")},
                auth=ADMIN,
                params=[path_param("key", "the key id or prefix")],
                errs=(401, 403, 404),
            )
        },
        "/v1/admin/api-keys/{key}/rotate": {
            "post": {
                **op(
                    "Rotate a key (the new key shown once)",
                    "admin",
                    {"201": answer("ApiKeyRotated")},
                    auth=ADMIN,
                    params=[path_param("key", "the key id or prefix")],
                    errs=(400, 401, 403, 404),
                ),
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("Rotate")}},
                },
            }
        },
        "/v1/admin/users": {
            "get": op(
                "List users",
                "admin",
                {
                    "200": {
                        "description": "users",
                        "content": {"application/json": {"schema": list_of(ref("User"))}},
                    }
                },
                auth=ADMIN,
                params=[query("org", "only this organisation's users")],
            )
        },
        "/v1/admin/deployments": {
            "get": op(
                "Live state of every deployment",
                "admin",
                {
                    "200": {
                        "description": "deployments",
                        "content": {"application/json": {"schema": list_of(ref("Deployment"))}},
                    }
                },
                auth=ADMIN,
                errs=(401, 403),
            )
        },
        "/v1/admin/metrics": {
            "get": op(
                "This process's metrics in one JSON summary",
                "admin",
                {"200": answer("MetricsSummary")},
                auth=ADMIN,
                errs=(401, 403, 404),
            )
        },
        "/v1/admin/overview": {
            "get": op(
                "Today and the last 7 days at a glance",
                "admin",
                {"200": answer("Overview")},
                auth=ADMIN,
                errs=(401, 403),
            )
        },
        "/v1/admin/requests": {
            "get": op(
                "The latest requests, newest first",
                "admin",
                {"200": answer("RequestList")},
                auth=ADMIN,
                params=[
                    query("limit", "rows (1-500, default 50)", LIMIT),
                    query("before", "a row id: the page after it", PAGE),
                    query("org", "an organisation", PAGE),
                    query("key", "a key id", PAGE),
                    query("model", "a model", PAGE),
                    query("deployment", "a deployment", PAGE),
                    query("status", "only errors", {"enum": ["error"]}),
                ],
            )
        },
        "/v1/admin/audit": {
            "get": op(
                "The admin audit log, newest first",
                "admin",
                {"200": answer("AuditList")},
                auth=ADMIN,
                params=[
                    query("limit", "entries (1-500, default 100)", LIMIT),
                    query(
                        "before",
                        "an entry id: the page after it",
                        {"type": "integer", "minimum": 0},
                    ),
                    query("action", "e.g. keys.create, console.login_failed", PAGE),
                ],
            )
        },
        metrics_path: {
            "get": op(
                "Prometheus exposition",
                "metrics",
                {
                    "200": {
                        "description": "the text format",
                        "content": {"text/plain": {"schema": STR}},
                    }
                },
                auth=[],
                errs=(401, 403, 404),
            )
        },
    }
    if ui:
        p.update(
            {
                "/ui": {
                    "get": op(
                        "The console (redirects to /ui/)",
                        "console",
                        {"302": answer(None, "to /ui/")},
                        auth=[],
                        errs=(),
                    )
                },
                "/ui/": {
                    "get": op(
                        "The console's page (or a redirect to sign in)",
                        "console",
                        {**html("the console"), "302": answer(None, "to /ui/login")},
                        auth=[],
                        errs=(),
                    )
                },
                "/ui/login": {
                    "get": op(
                        "The sign-in page",
                        "console",
                        {**html("sign in"), "302": answer(None, "to /ui/")},
                        auth=[],
                        errs=(),
                    )
                },
                "/ui/static/{name}": {
                    "get": op(
                        "The console's scripts, styles and images",
                        "console",
                        {"200": answer(None, "the file")},
                        auth=[],
                        params=[path_param("name", "a file name")],
                        errs=(404,),
                    )
                },
                "/ui/api/login": {
                    "post": op(
                        "Sign in: sets the session cookie",
                        "console",
                        {"200": answer("ConsoleSession")},
                        body="SignIn",
                        auth=[],
                        errs=(400, 401, 429),
                    )
                },
                "/ui/api/logout": {
                    "post": op(
                        "Sign out (needs X-CSRF-Token)",
                        "console",
                        {"200": answer("ConsoleSession")},
                        auth=[{"console": []}],
                        errs=(401, 403),
                    )
                },
                "/ui/api/session": {
                    "get": op(
                        "Who is signed in, and the CSRF token",
                        "console",
                        {"200": answer("ConsoleSession")},
                        auth=[{"console": []}],
                        errs=(401,),
                    )
                },
            }
        )
    return p


def _batch_doc() -> tuple[dict[str, dict[str, Schema]], dict[str, Schema]]:
    from aigw.batches import openapi  # it builds on the helpers above

    return openapi.paths(), openapi.SCHEMAS


def document(config: Config) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aigw",
            "version": __version__,
            "description": "An AI gateway: OpenAI's and Anthropic's APIs in front of many "
            "providers, with keys, limits, budgets, usage and an admin console. "
            'Every error is {"error": {message, type, param, code}} (Anthropic\'s shape on '
            "/v1/messages).",
        },
        "paths": with_examples(
            {
                **paths(config.observability.metrics.path, config.ui.enabled),
                **(_batch_doc()[0] if config.batches.enabled else {}),
            },
            next(iter(config.models), "gpt-4o-mini"),
        ),
        "components": {
            "schemas": {**SCHEMAS, **_batch_doc()[1]},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an aigw API key, a JWT, or the admin key",
                },
                "x_api_key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "console": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "aigw_session",
                    "description": "the console's session; changes also need the "
                    "X-CSRF-Token header from GET /ui/api/session",
                },
            },
        },
    }


_DOC = web.AppKey("openapi_document", bytes)


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[_DOC], content_type="application/json")


def add_routes(app: web.Application) -> None:
    import orjson

    app[_DOC] = orjson.dumps(document(app[CONFIG]))
    app.router.add_get("/openapi.json", openapi_json)
