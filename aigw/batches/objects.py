"""OpenAI's objects, exactly: File, Batch, the list page, and the lines of a batch's output
and error files (openai-python `types/file_object.py`, `batch.py`, `batch_request_counts.py`,
`batch_error.py`, `batch_usage.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from aigw.types import GatewayError

# Every state a batch can be in; the last four are final.
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
FINAL = ("completed", "failed", "expired", "cancelled")

# A batch's times after `created_at`, in OpenAI's order (and the store's columns').
TIMES = (
    "expires_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


@dataclass(slots=True)
class FileRow:
    id: str
    org_id: str
    purpose: str
    filename: str
    bytes: int
    created_at: float
    expires_at: float | None = None

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": int(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": _int(self.expires_at),
            "status_details": None,
        }


@dataclass(slots=True)
class BatchRow:
    id: str
    org_id: str
    key_id: str | None
    principal: dict[str, Any] | None
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    metadata: dict[str, str] | None
    errors: list[dict[str, Any]] | None
    output_file_id: str | None
    error_file_id: str | None
    total: int
    completed: int
    failed: int
    usage: dict[str, Any] | None
    model: str | None
    created_at: float
    times: dict[str, float | None]

    def to_openai(self, counts: tuple[int, int, int] | None = None) -> dict[str, Any]:
        """`counts` (total, completed, failed) are the live ones while the batch runs."""
        total, completed, failed = counts or (self.total, self.completed, self.failed)
        out: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created_at),
        }
        out.update((k, _int(self.times.get(k))) for k in TIMES)
        out["request_counts"] = {"total": total, "completed": completed, "failed": failed}
        out["usage"] = self.usage
        out["metadata"] = self.metadata
        return out


def batch_usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def page(items: Sequence[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """OpenAI's cursor page: `data`, `first_id`, `last_id`, `has_more`."""
    return {
        "object": "list",
        "data": list(items),
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


# --- the lines of the output and error files ----------------------------------------------


def answered(status: int, request_id: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
    """A line that got an answer (2xx to the output file; an error status to the error
    file, with the error body as the endpoint would have sent it). Bytes are the upstream's
    JSON as it came, embedded without being parsed."""
    if isinstance(body, bytes):
        body = orjson.Fragment(body)  # type: ignore[assignment]
    return {
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }


def error_answer(e: GatewayError, request_id: str) -> dict[str, Any]:
    return answered(e.status, request_id, e.to_dict())


def not_run(code: str, message: str) -> dict[str, Any]:
    """A line the batch never ran (expired, over budget, interrupted)."""
    return {"response": None, "error": {"code": code, "message": message}}


def file_line(req_id: str, custom_id: str, result: bytes) -> bytes:
    """`{"id", "custom_id", "response", "error"}` from the stored result; the body is
    embedded as stored, never parsed and serialised again."""
    return (
        b'{"id":'
        + orjson.dumps(req_id)
        + b',"custom_id":'
        + orjson.dumps(custom_id)
        + b","
        + result.strip()[1:]
        + b"\n"
    )
