"""Cohere's v2 embed (`POST /v2/embed`) <-> OpenAI's embeddings."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from aigw.providers.base import Answer
from aigw.types import GatewayError, Usage, bad_request

DEFAULT_INPUT_TYPE = "search_document"
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")


def to_cohere_embed(body: dict[str, Any], model: str) -> dict[str, Any]:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise bad_request("Cohere embeddings take text input only (not token arrays)", "input")
    input_type = body.get("input_type") or DEFAULT_INPUT_TYPE
    if input_type not in INPUT_TYPES:
        raise bad_request(f"input_type must be one of {', '.join(INPUT_TYPES)}", "input_type")
    out: dict[str, Any] = {
        "model": model,
        "texts": texts,
        "input_type": input_type,
        "embedding_types": ["float"],
    }
    if body.get("dimensions"):
        out["output_dimension"] = body["dimensions"]
    if body.get("truncate") in ("NONE", "START", "END"):
        out["truncate"] = body["truncate"]
    return out


def b64_float32(vector: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32, as the openai SDK decodes it."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def from_cohere_embed(body: dict[str, Any], model: str, request: dict[str, Any]) -> Answer:
    embs = body.get("embeddings")
    vectors = embs.get("float") if isinstance(embs, dict) else embs
    if not isinstance(vectors, list):
        raise GatewayError(
            502,
            "cohere: embed response without float embeddings",
            "api_error",
            "bad_upstream_response",
        )
    as_b64 = request.get("encoding_format") == "base64"
    billed = ((body.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0
    body_out = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": b64_float32(v) if as_b64 else v}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": int(billed), "total_tokens": int(billed)},
    }
    return Answer(body_out, Usage(prompt_tokens=int(billed)))
