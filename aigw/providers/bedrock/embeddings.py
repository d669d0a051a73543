"""Embeddings through InvokeModel (`POST /model/{modelId}/invoke`), whose body is the model
vendor's own: Amazon Titan text embeddings (v2: `amazon.titan-embed-text-v2:0`; one text per
call) and Cohere embed (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`,
`cohere.embed-v4:0`; up to 96 texts per call). The family is read from the model id, which
may carry a cross-region prefix (`us.cohere.embed-v4:0`) or be an ARN.
"""

from __future__ import annotations

from typing import Any

from aigw.providers.base import Answer
from aigw.providers.cohere.embed import b64_float32
from aigw.types import GatewayError, Usage, bad_request

TITAN = "titan"
COHERE = "cohere"
COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
TITAN_DIMENSIONS = (256, 512, 1024)


def family(model: str) -> str:
    m = model.lower()
    if "titan-embed" in m:
        return TITAN
    if "cohere.embed" in m:
        return COHERE
    raise bad_request(
        f"model {model!r}: Bedrock embeddings are translated for Amazon Titan text "
        "embeddings and Cohere embed models only",
        "model",
    )


def texts_of(body: dict[str, Any]) -> list[str]:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("Bedrock embeddings take text input only (not token arrays)", "input")
    return texts


def to_invoke(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI embeddings request -> the InvokeModel body for the model's family."""
    texts = texts_of(body)
    dims = body.get("dimensions")
    if family(model) == TITAN:
        if len(texts) != 1:
            raise bad_request(
                "Amazon Titan embeddings take one input per request; send one text", "input"
            )
        out: dict[str, Any] = {"inputText": texts[0], "embeddingTypes": ["float"]}
        if "v2" in model:  # v1 has neither dimensions nor normalize
            if dims is not None:
                if dims not in TITAN_DIMENSIONS:
                    raise bad_request("Titan v2 dimensions must be 256, 512 or 1024", "dimensions")
                out["dimensions"] = dims
            out["normalize"] = True  # as OpenAI's vectors are
        else:
            del out["embeddingTypes"]
        return out
    if len(texts) > 96:
        raise bad_request("Cohere embeddings on Bedrock take at most 96 texts", "input")
    input_type = body.get("input_type") or "search_document"
    if input_type not in COHERE_INPUT_TYPES:
        raise bad_request(
            f"input_type must be one of {', '.join(COHERE_INPUT_TYPES)}", "input_type"
        )
    out = {"texts": texts, "input_type": input_type, "embedding_types": ["float"]}
    if dims is not None:
        out["output_dimension"] = dims  # embed v4 only; the others refuse it (a 400)
    if body.get("truncate") in ("NONE", "START", "END"):
        out["truncate"] = body["truncate"]
    return out


def _bad(what: str) -> GatewayError:
    return GatewayError(502, f"bedrock: {what}", "api_error", "bad_upstream_response")


def from_invoke(body: dict[str, Any], model: str, request: dict[str, Any]) -> Answer:
    """The model's InvokeModel answer -> an OpenAI embeddings list. Titan reports its token
    count; Bedrock's Cohere answer has none in the body, so the count is estimated from the
    text (about four characters a token) to keep costs and budgets moving."""
    if family(model) == TITAN:
        by_type = body.get("embeddingsByType") or {}
        vector = by_type.get("float") or body.get("embedding")
        if not isinstance(vector, list):
            raise _bad("Titan answer without an embedding")
        vectors: Any = [vector]
        tokens = int(body.get("inputTextTokenCount") or 0)
    else:
        embs = body.get("embeddings")
        vectors = embs.get("float") if isinstance(embs, dict) else embs
        if not isinstance(vectors, list):
            raise _bad("Cohere answer without float embeddings")
        tokens = sum(len(t) for t in texts_of(request)) // 4 + len(vectors)
    as_b64 = request.get("encoding_format") == "base64"
    out = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": b64_float32(v) if as_b64 else v}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Answer(out, Usage(prompt_tokens=tokens))
