"""Embeddings: OpenAI's `/v1/embeddings` <-> the Gemini API's `embedContent` /
`batchEmbedContents` and Vertex AI's `predict` (text-embedding-* and gemini-embedding-*).

The task type (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, ...) comes from the request's extra
`task_type` field (the openai SDK's `extra_body`); `dimensions` is `outputDimensionality`.
The Gemini API reports no token counts for embeddings, so usage there is the gateway's
estimate (about four characters per token); Vertex reports them per input.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from aigw.limits.estimate import estimate_prompt_tokens
from aigw.providers.base import Answer
from aigw.types import GatewayError, Usage, bad_request

TASK_TYPES = (
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
)
MAX_BATCH = 100  # batchEmbedContents' limit per call


def texts_of(body: dict[str, Any]) -> list[str]:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request(
            "Gemini embeddings take text input only (a string or a list of strings)", "input"
        )
    return texts


def task_type(body: dict[str, Any]) -> str | None:
    t = body.get("task_type")
    if t is None:
        return None
    if not isinstance(t, str) or t.upper() not in TASK_TYPES:
        raise bad_request(f"task_type must be one of {', '.join(TASK_TYPES)}", "task_type")
    return t.upper()


def dimensions(body: dict[str, Any]) -> int | None:
    d = body.get("dimensions")
    if d is None:
        return None
    if not isinstance(d, int) or isinstance(d, bool) or d < 1:
        raise bad_request("dimensions must be a positive integer", "dimensions")
    return d


def embedding_list(
    vectors: list[list[float]], model: str, request: dict[str, Any], tokens: int
) -> Answer:
    """OpenAI's embeddings answer; with `encoding_format: base64` (the openai SDK's default)
    each vector is base64 of little-endian float32, as OpenAI sends it."""
    as_b64 = request.get("encoding_format") == "base64"
    body = {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                if as_b64
                else v,
            }
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Answer(body, Usage(prompt_tokens=tokens))


def bad_answer(provider: str, what: str) -> GatewayError:
    return GatewayError(502, f"{provider}: {what}", "api_error", "bad_upstream_response")


# --- the Gemini API --------------------------------------------------------------------------


def gemini_embed_request(body: dict[str, Any], model: str) -> tuple[str, dict[str, Any]]:
    """-> (the method, `embedContent` or `batchEmbedContents`, and its body)."""
    texts = texts_of(body)
    if len(texts) > MAX_BATCH:
        raise bad_request(f"Gemini embeds at most {MAX_BATCH} inputs per request", "input")
    common: dict[str, Any] = {}
    tt = task_type(body)
    if tt:
        common["taskType"] = tt
    dims = dimensions(body)
    if dims:
        common["outputDimensionality"] = dims
    if isinstance(body.get("input"), str):
        return "embedContent", {"content": {"parts": [{"text": texts[0]}]}, **common}
    requests = [
        {"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **common} for t in texts
    ]
    return "batchEmbedContents", {"requests": requests}


def gemini_embed_response(
    body: dict[str, Any], model: str, request: dict[str, Any], provider: str
) -> Answer:
    if isinstance(body.get("embedding"), dict):
        items = [body["embedding"]]
    elif isinstance(body.get("embeddings"), list):
        items = body["embeddings"]
    else:
        raise bad_answer(provider, "the embeddings answer holds no embeddings")
    vectors = [e.get("values") if isinstance(e, dict) else None for e in items]
    if not all(isinstance(v, list) for v in vectors):
        raise bad_answer(provider, "an embedding without values")
    tokens = estimate_prompt_tokens("embeddings", request)
    return embedding_list(vectors, model, request, tokens)  # type: ignore[arg-type]


# --- Vertex AI -------------------------------------------------------------------------------


def vertex_embed_request(body: dict[str, Any]) -> dict[str, Any]:
    """-> a `predict` body: one instance per input."""
    texts = texts_of(body)
    tt = task_type(body)
    instances = [{"content": t, **({"task_type": tt} if tt else {})} for t in texts]
    out: dict[str, Any] = {"instances": instances}
    dims = dimensions(body)
    if dims:
        out["parameters"] = {"outputDimensionality": dims}
    return out


def vertex_embed_response(
    body: dict[str, Any], model: str, request: dict[str, Any], provider: str
) -> Answer:
    preds = body.get("predictions")
    if not isinstance(preds, list):
        raise bad_answer(provider, "the predict answer holds no predictions")
    vectors: list[list[float]] = []
    tokens = 0
    for p in preds:
        emb = p.get("embeddings") if isinstance(p, dict) else None
        values = emb.get("values") if isinstance(emb, dict) else None
        if not isinstance(values, list):
            raise bad_answer(provider, "a prediction without embedding values")
        vectors.append(values)
        stats = emb.get("statistics") if isinstance(emb, dict) else None
        if isinstance(stats, dict):
            tokens += int(stats.get("token_count") or 0)
    return embedding_list(vectors, model, request, tokens)
