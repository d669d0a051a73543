"""JSON logs, one object per line, with the request id (and trace id) on every line.

The access line per request is built from the request's context; it never carries keys or
message contents (prompts and answers are logged only with `logging.log_prompts: true`).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "aigw_request_id", default=None
)

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# Set by the tracer when tracing is on: returns the current trace id (hex) or None.
trace_id_source: Callable[[], str | None] | None = None

log = logging.getLogger("aigw")
access = logging.getLogger("aigw.access")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        if trace_id_source is not None and "trace_id" not in record.__dict__:
            tid = trace_id_source()
            if tid:
                out["trace_id"] = tid
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {
            k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")
        }
        rid = request_id_var.get()
        tail = " ".join(f"{k}={v}" for k, v in extra.items())
        head = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{head} {record.levelname:<7} {record.getMessage()}"
        if rid:
            line += f" request_id={rid}"
        if trace_id_source is not None and "trace_id" not in extra:
            tid = trace_id_source()
            if tid:
                line += f" trace_id={tid}"
        if tail:
            line += " " + tail
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("aigw")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # aiohttp's own access log duplicates ours.
    logging.getLogger("aiohttp.access").disabled = True
