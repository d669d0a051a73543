"""The prompts and answers of this instance's latest requests, for the console's requests
page. Kept only with `logging.log_prompts: true` (the same switch that puts them in the
access log), in memory, bounded in entries and in characters per entry."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from aigw.pipeline import RequestContext

MAX_ENTRIES = 500
MAX_CHARS = 8000


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
    return s if len(s) <= MAX_CHARS else s[:MAX_CHARS] + " …"


class RecentContents:
    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self.size = size
        self._by_request: OrderedDict[str, dict[str, str | None]] = OrderedDict()

    def remember(self, ctx: RequestContext) -> None:
        """A finish callback: runs once the answer (stream included) is complete."""
        log = ctx.extra_log
        if "prompt" not in log:
            return
        answer = log.get("answer")
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        self._by_request[ctx.request_id] = {"prompt": _text(log["prompt"]), "answer": _text(answer)}
        self._by_request.move_to_end(ctx.request_id)
        while len(self._by_request) > self.size:
            self._by_request.popitem(last=False)

    def get(self, request_id: str) -> dict[str, str | None] | None:
        return self._by_request.get(request_id)
