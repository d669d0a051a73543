"""Compressed request bodies: gzip and deflate accepted, inflated off the event loop, bounded.

aiohttp's own decoding is off (`auto_decompress=False` in server/app.py): it inflates inside
the protocol's `data_received`, on the loop, before any handler or key check runs. Here the
compressed bytes (already bounded by `server.max_body_bytes`) are inflated in a worker
thread and the inflated size stops at `server.max_body_bytes` too, so a 1 MB body that would
inflate to 1 GiB costs a few milliseconds of a thread, never a stalled loop. Other encodings
(br, zstd, ...) are refused with 415: OpenAI's and Anthropic's APIs send none.
"""

from __future__ import annotations

import asyncio
import zlib

from aigw.types import GatewayError

# Content-Encoding -> zlib wbits: gzip framing; RFC 9110's "deflate" is the zlib format.
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
ACCEPTED = ("gzip", "deflate")


async def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded from `encoding`; 400 when it is not that format, 413 past `limit`."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return raw
    wbits = _WBITS.get(enc)
    if wbits is None:
        raise GatewayError(
            415,
            f"Unsupported Content-Encoding; request bodies may be sent as "
            f"{', '.join(ACCEPTED)} or uncompressed.",
            code="unsupported_content_encoding",
        )
    return await asyncio.to_thread(_inflate, raw, wbits, limit)


def _inflate(raw: bytes, wbits: int, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    data = raw
    while True:  # gzip allows concatenated members; each is inflated under the same limit
        d = zlib.decompressobj(wbits)
        try:
            piece = d.decompress(data, limit + 1 - size)
        except zlib.error:
            raise _not_encoded() from None
        size += len(piece)
        if size > limit:
            raise GatewayError(
                413,
                f"Request body too large once decompressed: the limit is {limit} bytes "
                "(server.max_body_bytes applies to the inflated body too).",
                code="request_too_large",
            )
        out.append(piece)
        if not d.eof:
            raise _not_encoded()  # truncated: the stream did not reach its end
        data = d.unused_data
        if not data or wbits != 31:
            break
    return b"".join(out)


def _not_encoded() -> GatewayError:
    return GatewayError(
        400,
        "The request body does not match its Content-Encoding header (corrupt or not compressed).",
        code="invalid_content_encoding",
    )
