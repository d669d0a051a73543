"""The Files and Batch endpoints in /openapi.json (`server/openapi.py` merges them in when
batches are enabled): their paths and the schemas of OpenAI's objects."""

from __future__ import annotations

from aigw.batches.endpoints import ENDPOINTS
from aigw.batches.objects import TIMES
from aigw.server.openapi import (
    BOOL,
    INT,
    STR,
    Schema,
    answer,
    arr,
    nullable,
    obj,
    op,
    page,
    path_param,
    query,
    ref,
)

SCHEMAS: dict[str, Schema] = {
    "FileObject": obj(
        {
            "id": STR,
            "object": {"const": "file"},
            "bytes": INT,
            "created_at": INT,
            "filename": STR,
            "purpose": {"enum": ["batch", "batch_output"]},
            "status": STR,
            "expires_at": nullable(INT),
            "status_details": nullable(STR),
        },
        ("id", "object", "bytes", "created_at", "filename", "purpose", "status"),
    ),
    "FileList": page(ref("FileObject")),
    "FileDeleted": obj(
        {"id": STR, "object": {"const": "file"}, "deleted": BOOL}, ("id", "object", "deleted")
    ),
    "FileUpload": obj(
        {
            "file": {"type": "string", "contentMediaType": "application/octet-stream"},
            "purpose": {"const": "batch"},
        },
        ("file", "purpose"),
    ),
    "BatchCreate": obj(
        {
            "input_file_id": STR,
            "endpoint": {"enum": list(ENDPOINTS)},
            "completion_window": {"const": "24h"},
            "metadata": nullable(
                {
                    "type": "object",
                    "maxProperties": 16,
                    "propertyNames": {"maxLength": 64},
                    "additionalProperties": {"type": "string", "maxLength": 512},
                }
            ),
        },
        ("input_file_id", "endpoint", "completion_window"),
    ),
    "Batch": obj(
        {
            "id": STR,
            "object": {"const": "batch"},
            "endpoint": STR,
            "model": nullable(STR),
            "errors": nullable(
                obj(
                    {
                        "object": STR,
                        "data": arr(
                            obj(
                                {
                                    "code": nullable(STR),
                                    "line": nullable(INT),
                                    "message": nullable(STR),
                                    "param": nullable(STR),
                                }
                            )
                        ),
                    }
                )
            ),
            "input_file_id": STR,
            "completion_window": STR,
            "status": {
                "enum": [
                    "validating",
                    "failed",
                    "in_progress",
                    "finalizing",
                    "completed",
                    "expired",
                    "cancelling",
                    "cancelled",
                ]
            },
            "output_file_id": nullable(STR),
            "error_file_id": nullable(STR),
            "created_at": INT,
            **{t: nullable(INT) for t in TIMES},
            "request_counts": obj(
                {"total": INT, "completed": INT, "failed": INT}, ("total", "completed", "failed")
            ),
            "usage": nullable(
                obj({"input_tokens": INT, "output_tokens": INT, "total_tokens": INT})
            ),
            "metadata": nullable({"type": "object", "additionalProperties": STR}),
        },
        ("id", "object", "endpoint", "input_file_id", "completion_window", "status", "created_at"),
    ),
    "BatchList": page(ref("Batch")),
}

_AFTER = query("after", "an object id: the page after it", {"type": "string", "maxLength": 64})


def paths() -> dict[str, dict[str, Schema]]:
    upload = op(
        "Upload a batch input file (JSONL, multipart)",
        "batches",
        {"200": answer("FileObject")},
        errs=(400, 401, 403, 408, 413, 503),
    )
    upload["requestBody"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": ref("FileUpload")}},
    }
    file_id = [path_param("file_id", "a file id (file-...)")]
    batch_id = [path_param("batch_id", "a batch id (batch_...)")]
    return {
        "/v1/files": {
            "post": upload,
            "get": op(
                "The organisation's files, newest first",
                "batches",
                {"200": answer("FileList")},
                params=[
                    query("purpose", "only files of this purpose"),
                    query("order", "asc or desc (default)", {"enum": ["asc", "desc"]}),
                    _AFTER,
                    query("limit", "1-10000", {"type": "integer", "minimum": 1, "maximum": 10000}),
                ],
                errs=(400, 401, 503),
            ),
        },
        "/v1/files/{file_id}": {
            "get": op(
                "One file",
                "batches",
                {"200": answer("FileObject")},
                params=file_id,
                errs=(401, 404, 503),
            ),
            "delete": op(
                "Delete a file",
                "batches",
                {"200": answer("FileDeleted")},
                params=file_id,
                errs=(401, 404, 503),
            ),
        },
        "/v1/files/{file_id}/content": {
            "get": op(
                "A file's bytes",
                "batches",
                {
                    "200": {
                        "description": "the file",
                        "content": {"application/octet-stream": {"schema": STR}},
                    }
                },
                params=file_id,
                errs=(401, 404, 503),
            )
        },
        "/v1/batches": {
            "post": op(
                "Start a batch job (runs each line through this gateway)",
                "batches",
                {"200": answer("Batch")},
                body="BatchCreate",
                errs=(400, 401, 403, 413, 503),
            ),
            "get": op(
                "The organisation's batches, newest first",
                "batches",
                {"200": answer("BatchList")},
                params=[
                    _AFTER,
                    query(
                        "limit",
                        "1-100 (default 20)",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                    ),
                ],
                errs=(400, 401, 503),
            ),
        },
        "/v1/batches/{batch_id}": {
            "get": op(
                "One batch, with live request counts",
                "batches",
                {"200": answer("Batch")},
                params=batch_id,
                errs=(401, 404, 503),
            )
        },
        "/v1/batches/{batch_id}/cancel": {
            "post": op(
                "Cancel a batch (lines in flight finish)",
                "batches",
                {"200": answer("Batch")},
                params=batch_id,
                errs=(401, 404, 409, 503),
            )
        },
    }
