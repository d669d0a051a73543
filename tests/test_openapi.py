"""/openapi.json: a valid OpenAPI 3.1 document (openapi-spec-validator) whose paths and
methods are exactly the app's routes, so neither can change without the other."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from aigw import config as configmod
from aigw.server.app import create_app
from aigw.server.openapi import document
from tests.conftest import mock_config

METHODS = {"get", "post", "put", "patch", "delete"}


def routed(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every route, `{name:regex}` written `{name}`; HEAD is aiohttp's
    automatic companion of GET, not a route of ours."""
    out = set()
    for r in app.router.routes():
        if r.method == "HEAD":
            continue
        info = r.resource.get_info()
        path = info.get("path") or info.get("formatter")
        out.add((re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path), r.method.lower()))
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p, m) for p, ops in doc["paths"].items() for m in ops if m in METHODS}


@pytest.mark.parametrize(
    "extra",
    [{}, {"ui": {"enabled": False}}, {"observability": {"metrics": {"path": "/prom"}}}],
    ids=["default", "ui-off", "metrics-path"],
)
def test_document_matches_the_routes(extra: dict[str, Any], tmp_path: Any) -> None:
    cfg = configmod.from_dict(
        {**mock_config("http://127.0.0.1:9/v1"), **extra, "data_dir": str(tmp_path)}
    )
    app = create_app(cfg)
    doc = document(cfg)
    missing = routed(app) - documented(doc)
    extra_docs = documented(doc) - routed(app)
    assert not missing, f"routes without an entry in aigw/server/openapi.py: {sorted(missing)}"
    assert not extra_docs, f"documented but not routed: {sorted(extra_docs)}"


def test_document_is_valid_openapi_31(tmp_path: Any) -> None:
    cfg = configmod.from_dict({**mock_config("http://127.0.0.1:9/v1"), "data_dir": str(tmp_path)})
    doc = document(cfg)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any schema or reference error
    # Every operation documents its success, the error shape and how to authenticate.
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert any(c.startswith(("2", "3")) for c in codes), (path, method)
            assert "security" in op, (path, method)
            if "default" in codes:
                schema = op["responses"]["default"]["content"]["application/json"]["schema"]
                assert schema["$ref"] in (
                    "#/components/schemas/Error",
                    "#/components/schemas/AnthropicError",
                )


async def test_served_at_openapi_json(gw: Any) -> None:
    async with gw.http.get(gw.url + "/openapi.json") as r:
        assert r.status == 200 and r.content_type == "application/json"
        doc = await r.json()
    validate(doc)
    assert "/v1/chat/completions" in doc["paths"] and "/v1/admin/audit" in doc["paths"]
    assert doc["paths"]["/v1/messages"]["post"]["responses"]["400"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/AnthropicError"}
