"""Checking a batch's input file up front: every line a JSON object with `custom_id`,
`method`, `url` and `body`, the custom ids unique, every url the batch's endpoint. A bad file
fails the whole batch, its `errors` naming the lines (as OpenAI's do); a body the endpoint
would refuse fails only its own line, with the endpoint's 400, when the line runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_CUSTOM_ID = 512  # characters; a custom_id is stored and echoed, so it is bounded
MAX_ERRORS = 50  # errors listed on a failed batch; the rest are counted in the last one


@dataclass(slots=True)
class Line:
    line_no: int  # 1-based, counting every line of the file
    custom_id: str
    body: bytes  # the request body, JSON


@dataclass(slots=True)
class Parsed:
    lines: list[Line] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None  # the one model every line names, if they all name the same
    _more: int = 0

    def error(
        self, code: str, message: str, line: int | None = None, param: str | None = None
    ) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "line": line, "message": message, "param": param})
        else:
            self._more += 1

    def finish(self) -> Parsed:
        if self._more:
            self.errors.append(
                {
                    "code": "too_many_errors",
                    "line": None,
                    "message": f"{self._more} more errors not listed.",
                    "param": None,
                }
            )
        return self


def parse(content: bytes, endpoint: str, max_lines: int) -> Parsed:
    out = Parsed()
    seen: set[str] = set()
    models: set[str] = set()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        out.error("invalid_file_format", "The input file is not UTF-8 text (JSONL).")
        return out.finish()
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out.error("invalid_json_line", "This line is not parseable as valid JSON.", n)
            continue
        if not isinstance(obj, dict):
            out.error("invalid_json_line", "This line is not a JSON object.", n)
            continue
        cid = obj.get("custom_id")
        if not isinstance(cid, str) or not cid:
            out.error(
                "missing_required_parameter",
                "Each line needs a non-empty string `custom_id`.",
                n,
                "custom_id",
            )
            continue
        if len(cid) > MAX_CUSTOM_ID:
            out.error(
                "invalid_custom_id", f"custom_id is longer than {MAX_CUSTOM_ID} characters.", n
            )
            continue
        if obj.get("method") != "POST":
            out.error("invalid_method", "`method` must be POST.", n, "method")
            continue
        if obj.get("url") != endpoint:
            out.error(
                "invalid_url",
                f"The url {str(obj.get('url'))[:100]!r} of this line does not match the "
                f"batch's endpoint {endpoint}: a batch has one endpoint.",
                n,
                "url",
            )
            continue
        body = obj.get("body")
        if not isinstance(body, dict):
            out.error("missing_required_parameter", "`body` must be a JSON object.", n, "body")
            continue
        if cid in seen:
            out.error(
                "duplicate_custom_id",
                f"The custom_id {cid[:100]!r} appears more than once; custom_ids must be "
                "unique within a batch.",
                n,
                "custom_id",
            )
            continue
        seen.add(cid)
        if isinstance(body.get("model"), str):
            models.add(body["model"])
        out.lines.append(Line(n, cid, orjson.dumps(body)))
    if len(out.lines) > max_lines:
        out.error(
            "too_many_requests",
            f"The batch has {len(out.lines)} requests; the most a batch may hold is {max_lines}.",
        )
    if not out.lines and not out.errors:
        out.error("empty_file", "The input file has no requests.")
    if len(models) == 1:
        out.model = next(iter(models))
    return out.finish()
