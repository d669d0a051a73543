"""The Files and Batch endpoints (OpenAI's shapes), scoped to the caller's organisation: an id
of another organisation is a 404, as an id that does not exist.

POST/GET /v1/files, GET/DELETE /v1/files/{id}, GET /v1/files/{id}/content,
POST/GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from aigw.auth.authenticator import Authenticator
from aigw.auth.stage import authenticate_request
from aigw.batches.auth import snapshot
from aigw.batches.component import Batches
from aigw.batches.endpoints import ENDPOINTS
from aigw.batches.objects import BatchRow, FileRow, page
from aigw.batches.store import new_file_id
from aigw.ids import ordered_id
from aigw.server.middleware import json_response
from aigw.server.request import read_json
from aigw.store.base import StoreUnavailable
from aigw.types import GatewayError, Principal, bad_request

BATCHES = web.AppKey("batches", Batches)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_FILENAME = 255
_MAX_PARTS = 8  # form fields of an upload (purpose, file, and a few the SDKs may add)
_METADATA_PAIRS, _METADATA_KEY, _METADATA_VALUE = 16, 64, 512
_WINDOW = {"24h": 24 * 3600.0}

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, batches: Batches | None) -> None:
    if batches is None:
        return
    app[BATCHES] = batches
    r = app.router
    r.add_post("/v1/files", create_file)
    r.add_get("/v1/files", list_files)
    r.add_get("/v1/files/{file_id}", get_file)
    r.add_delete("/v1/files/{file_id}", delete_file)
    r.add_get("/v1/files/{file_id}/content", file_content)
    r.add_post("/v1/batches", create_batch)
    r.add_get("/v1/batches", list_batches)
    r.add_get("/v1/batches/{batch_id}", get_batch)
    r.add_post("/v1/batches/{batch_id}/cancel", cancel_batch)


def _store_errors(fn: Route) -> Route:
    """The database being down is a 503 the client may retry, not an internal error."""

    @functools.wraps(fn)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except StoreUnavailable:
            raise GatewayError(
                503,
                "Files and batches are unavailable while the database is down; retry.",
                "api_error",
                "store_unavailable",
                retry_after=5,
            ) from None

    return run


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer", name) from None
    if not lo <= v <= hi:
        raise bad_request(f"'{name}' must be between {lo} and {hi}", name)
    return v


def _after(request: web.Request) -> str | None:
    a = request.query.get("after")
    if a is not None and not _ID.match(a):
        raise bad_request("'after' must be an object id", "after")
    return a


def _org(p: Principal) -> str | None:
    """The organisation whose objects the caller sees: its own; an admin sees every one."""
    return None if p.is_admin else p.org_id


def _path_id(request: web.Request, key: str) -> str | None:
    v = request.match_info[key]
    return v if _ID.match(v) else None


def _no_file(file_id: str) -> GatewayError:
    return GatewayError(
        404, f"No such File object: {file_id[:64]}", "invalid_request_error", None, "id"
    )


def _no_batch(batch_id: str) -> GatewayError:
    return GatewayError(
        404, f"No batch found with id '{batch_id[:64]}'.", "invalid_request_error", None, "id"
    )


# --- files ------------------------------------------------------------------------------


@_store_errors
async def create_file(request: web.Request) -> web.Response:
    b = request.app[BATCHES]
    p = await authenticate_request(request)
    if not request.content_type.startswith("multipart/form-data"):
        raise bad_request("Upload a file as multipart/form-data with fields 'file' and 'purpose'.")
    most = b.config.batches.max_files_per_org
    if await b.store.count_files(p.org_id) >= most:
        raise bad_request(
            f"Your organisation already stores {most} files (batches.max_files_per_org); "
            "delete some first.",
            code="file_limit_reached",
        )
    cap = b.config.batches.max_file_bytes
    purpose: str | None = None
    filename: str | None = None
    content: bytes | None = None
    try:
        async with asyncio.timeout(b.config.batches.upload_timeout):
            reader = await request.multipart()
            for _ in range(_MAX_PARTS):
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise bad_request("Nested multipart bodies are not accepted.")
                if part.name == "file":
                    filename = part.filename or "upload.jsonl"
                    content = await _read_part(part, cap)
                elif part.name == "purpose":
                    purpose = (await _read_part(part, 100)).decode(errors="replace")
                else:
                    await _read_part(part, 64 * 1024)  # an unknown field: read and ignore
            else:
                raise bad_request(f"Too many form fields (at most {_MAX_PARTS}).")
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None
    except (ValueError, HttpProcessingError) as e:  # a malformed multipart body
        raise bad_request(f"Could not read the multipart body: {str(e)[:200]}") from None
    if purpose != "batch":
        raise bad_request(
            "'purpose' must be 'batch' (the only purpose this gateway stores files for).",
            "purpose",
        )
    if content is None or filename is None:
        raise bad_request("The form field 'file' is missing.", "file")
    if len(filename) > _MAX_FILENAME:
        raise bad_request(f"The file name is longer than {_MAX_FILENAME} characters.", "file")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The file must be UTF-8 text (JSONL).", "file") from None
    f = FileRow(new_file_id(), p.org_id, purpose, filename, len(content), time.time())
    await b.store.insert_file(f, content)
    return json_response(f.to_openai())


async def _read_part(part: BodyPartReader, cap: int) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        buf += chunk
        if len(buf) > cap:
            raise GatewayError(
                413,
                f"The file is larger than this gateway accepts ({cap} bytes; "
                "batches.max_file_bytes).",
                "invalid_request_error",
                "file_too_large",
                "file",
            )
    return bytes(buf)


@_store_errors
async def list_files(request: web.Request) -> web.Response:
    b = request.app[BATCHES]
    p = await authenticate_request(request)
    limit = _int_param(request, "limit", 10_000, 1, 10_000)
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("'order' must be 'asc' or 'desc'", "order")
    purpose = request.query.get("purpose")
    if purpose is not None and len(purpose) > 64:
        raise bad_request("'purpose' is too long", "purpose")
    rows, more = await b.store.list_files(_org(p), purpose, _after(request), limit, order)
    return json_response(page([f.to_openai() for f in rows], more))


async def _file_of(request: web.Request) -> tuple[Batches, FileRow]:
    b = request.app[BATCHES]
    p = await authenticate_request(request)
    fid = _path_id(request, "file_id")
    f = await b.store.get_file(fid, _org(p)) if fid else None
    if f is None:
        raise _no_file(request.match_info["file_id"])
    return b, f


@_store_errors
async def get_file(request: web.Request) -> web.Response:
    _, f = await _file_of(request)
    return json_response(f.to_openai())


@_store_errors
async def delete_file(request: web.Request) -> web.Response:
    b, f = await _file_of(request)
    if not await b.store.delete_file(f.id, f.org_id):
        raise _no_file(f.id)
    return json_response({"id": f.id, "object": "file", "deleted": True})


@_store_errors
async def file_content(request: web.Request) -> web.Response:
    b, f = await _file_of(request)
    content = await b.store.file_content(f.id, f.org_id)
    if content is None:
        raise _no_file(f.id)
    return web.Response(body=content, content_type="application/octet-stream")


# --- batches ----------------------------------------------------------------------------


def _check_metadata(m: Any) -> dict[str, str] | None:
    if m is None:
        return None
    ok = isinstance(m, dict) and len(m) <= _METADATA_PAIRS
    ok = ok and all(
        isinstance(k, str)
        and isinstance(v, str)
        and len(k) <= _METADATA_KEY
        and len(v) <= _METADATA_VALUE
        for k, v in m.items()
    )
    if not ok:
        raise bad_request(
            f"'metadata' must be an object of at most {_METADATA_PAIRS} pairs, string keys of "
            f"at most {_METADATA_KEY} characters and string values of at most "
            f"{_METADATA_VALUE}.",
            "metadata",
        )
    return m


async def _out(b: Batches, row: BatchRow) -> dict[str, Any]:
    return row.to_openai(await b.store.live_counts(row))


@_store_errors
async def create_batch(request: web.Request) -> web.Response:
    b = request.app[BATCHES]
    body = await read_json(request)
    p = await authenticate_request(request)
    fid = body.get("input_file_id")
    if not isinstance(fid, str) or not fid:
        raise bad_request("'input_file_id' is required", "input_file_id")
    url = body.get("endpoint")
    if not isinstance(url, str) or url not in ENDPOINTS:
        raise bad_request(
            f"'endpoint' must be one of {', '.join(ENDPOINTS)}", "endpoint", "invalid_value"
        )
    window = body.get("completion_window")
    if not isinstance(window, str) or window not in _WINDOW:
        raise bad_request("'completion_window' must be '24h'", "completion_window")
    metadata = _check_metadata(body.get("metadata"))
    Authenticator.authorize(p, ENDPOINTS[url].name, None)  # 403 without the endpoint's scope
    f = await b.store.get_file(fid, p.org_id) if _ID.match(fid) else None
    if f is None or f.purpose != "batch":
        raise GatewayError(
            400,
            f"The input file {fid[:64]} does not exist or was not uploaded with purpose 'batch'.",
            "invalid_request_error",
            "invalid_input_file",
            "input_file_id",
        )
    most = b.config.batches.max_active_batches_per_org
    if await b.store.count_active(p.org_id) >= most:
        raise bad_request(
            f"Your organisation already has {most} batches running "
            "(batches.max_active_batches_per_org); wait for some to finish or cancel them.",
            code="batch_limit_reached",
        )
    now = time.time()
    row = BatchRow(
        id="batch_" + ordered_id(),
        org_id=p.org_id,
        key_id=p.key_id if p.via == "api_key" else None,
        principal=snapshot(p),
        endpoint=url,
        input_file_id=f.id,
        completion_window=window,
        status="validating",
        metadata=metadata,
        errors=None,
        output_file_id=None,
        error_file_id=None,
        total=0,
        completed=0,
        failed=0,
        usage=None,
        model=None,
        created_at=now,
        times={"expires_at": now + _WINDOW[window]},
    )
    await b.store.insert_batch(row)
    b.worker.wake()
    return json_response(row.to_openai())


@_store_errors
async def list_batches(request: web.Request) -> web.Response:
    b = request.app[BATCHES]
    p = await authenticate_request(request)
    limit = _int_param(request, "limit", 20, 1, 100)
    rows, more = await b.store.list_batches(_org(p), _after(request), limit)
    return json_response(page([await _out(b, r) for r in rows], more))


async def _batch_of(request: web.Request) -> tuple[Batches, BatchRow]:
    b = request.app[BATCHES]
    p = await authenticate_request(request)
    bid = _path_id(request, "batch_id")
    row = await b.store.get_batch(bid, _org(p)) if bid else None
    if row is None:
        raise _no_batch(request.match_info["batch_id"])
    return b, row


@_store_errors
async def get_batch(request: web.Request) -> web.Response:
    b, row = await _batch_of(request)
    return json_response(await _out(b, row))


@_store_errors
async def cancel_batch(request: web.Request) -> web.Response:
    b, row = await _batch_of(request)
    if row.status not in ("validating", "in_progress", "cancelling"):
        raise GatewayError(
            409,
            f"Cannot cancel a batch with status '{row.status}'.",
            "invalid_request_error",
            "batch_not_cancellable",
        )
    new = await b.store.cancel(row.id, row.org_id, time.time())
    assert new is not None
    b.worker.wake()
    return json_response(await _out(b, new))
