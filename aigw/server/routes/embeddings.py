"""POST /v1/embeddings: float or base64 vectors in OpenAI's list shape."""

from __future__ import annotations

from aiohttp import web

from aigw.server.request import new_context, read_json
from aigw.server.responses import run
from aigw.server.state import gateway
from aigw.types import bad_request


def _is_input_item(x: object) -> bool:
    """A string, one token id, or an array of token ids."""
    if isinstance(x, str | int):
        return not isinstance(x, bool)
    return isinstance(x, list) and all(isinstance(t, int) for t in x)


def check_embeddings(body: dict) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise bad_request("you must provide a model parameter", "model")
    inp = body.get("input")
    ok = (isinstance(inp, str) and inp != "") or (
        isinstance(inp, list) and len(inp) > 0 and all(_is_input_item(x) for x in inp)
    )
    if not ok:
        raise bad_request(
            "'input' must be a non-empty string, array of strings, or array of token arrays",
            "input",
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dims = body.get("dimensions")
    if dims is not None and (type(dims) is not int or dims < 1):
        raise bad_request("'dimensions' must be a positive integer", "dimensions")


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_embeddings(body)
    ctx = new_context(request, "embeddings", body)
    return await run(request, ctx, gateway(request).embeddings)
