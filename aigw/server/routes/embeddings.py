"""POST /v1/embeddings: float or base64 vectors in OpenAI's list shape."""

from __future__ import annotations

from aiohttp import web

from aigw.server.request import new_context, read_json
from aigw.server.state import gateway
from aigw.server.writer import run
from aigw.types import bad_request


def _is_token(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_input(inp: object) -> bool:
    """A string, or a non-empty array of strings, of token ids, or of token-id arrays (one
    kind per array, as OpenAI's API takes them)."""
    if isinstance(inp, str):
        return inp != ""
    if not isinstance(inp, list) or not inp:
        return False
    return (
        all(isinstance(x, str) for x in inp)
        or all(_is_token(x) for x in inp)
        or all(isinstance(x, list) and x and all(_is_token(t) for t in x) for x in inp)
    )


def check_embeddings(body: dict) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", "model")
    inp = body.get("input")
    if not _is_input(inp):
        raise bad_request(
            "'input' must be a non-empty string, array of strings, or array of token arrays",
            "input",
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (
        not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 65536
    ):
        raise bad_request("'dimensions' must be an integer from 1 to 65536", "dimensions")


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_embeddings(body)
    ctx = new_context(request, "embeddings", body)
    return await run(request, ctx, gateway(request).embeddings)
