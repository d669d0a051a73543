"""The Responses API's conversation store: responses and their input items, per
organisation, in the gateway's own database (table `responses`, migration 006).

Stored content is the client's conversation: it goes to the database and back to the same
organisation, never into a log line, a metric or an error message. Sizes are bounded
(`responses.max_stored_bytes` per response, `max_turns` followed back per chain) and rows
expire after `responses.retention`; a sweep deletes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from aigw.component import Component
from aigw.responses.settings import ResponsesConfig
from aigw.store.base import Store, StoreUnavailable
from aigw.types import GatewayError

log = logging.getLogger("aigw.responses")


@dataclass(slots=True)
class Stored:
    id: str
    input: list[dict[str, Any]]
    response: dict[str, Any]


def not_found(response_id: str, param: str | None = None) -> GatewayError:
    # The id is the client's own (and bounded by validation); nothing of the content.
    return GatewayError(
        404 if param is None else 400,
        f"Response with id '{response_id}' not found.",
        "invalid_request_error",
        "response_not_found" if param is None else "previous_response_not_found",
        param,
    )


def unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The gateway's response store is unavailable; retry later.",
        "api_error",
        "store_unavailable",
        retry_after=1.0,
    )


class ResponsesStore(Component):
    def __init__(self, store: Store, settings: ResponsesConfig) -> None:
        self.store = store
        self.settings = settings
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def put(
        self,
        org_id: str,
        response: dict[str, Any],
        input_items: list[dict[str, Any]],
        previous_id: str | None,
    ) -> bool:
        """Store one response; False (and nothing stored) when it is larger than allowed
        or the database is away (the answer has been sent: the client is not failed for it)."""
        inp = orjson.dumps(input_items)
        resp = orjson.dumps(response)
        if len(inp) + len(resp) > self.settings.max_stored_bytes:
            log.warning("response not stored: larger than responses.max_stored_bytes")
            return False
        now = time.time()
        try:
            await self.store.execute(
                "INSERT INTO responses (id, org_id, previous_id, created_at, expires_at, input,"
                " response) VALUES (?, ?, ?, ?, ?, ?, ?)",
                response["id"],
                org_id,
                previous_id,
                now,
                now + self.settings.retention,
                inp.decode(),
                resp.decode(),
            )
        except StoreUnavailable:
            log.warning("response not stored: the database is unavailable")
            return False
        except Exception as e:  # the content must not reach the log: the kind only
            log.error("response not stored", extra={"error": type(e).__name__})
            return False
        return True

    async def get(self, org_id: str, response_id: str) -> Stored:
        try:
            row = await self.store.fetchone(
                "SELECT input, response FROM responses WHERE id = ? AND org_id = ?"
                " AND expires_at > ?",
                response_id,
                org_id,
                time.time(),
            )
        except StoreUnavailable:
            raise unavailable() from None
        if row is None:
            raise not_found(response_id)
        return Stored(response_id, orjson.loads(row[0]), orjson.loads(row[1]))

    async def delete(self, org_id: str, response_id: str) -> None:
        await self.get(org_id, response_id)  # another org's id is a 404 like a missing one
        try:
            await self.store.execute(
                "DELETE FROM responses WHERE id = ? AND org_id = ?", response_id, org_id
            )
        except StoreUnavailable:
            raise unavailable() from None

    async def history(self, org_id: str, response_id: str) -> list[dict[str, Any]]:
        """The conversation up to and including `response_id`, oldest first: each turn's
        input items, then its output items (instructions are not carried over, as OpenAI
        does). A chain is followed at most `max_turns` back, and only while its stored size
        stays under `max_history_bytes` (older turns are left out, oldest first)."""
        now = time.time()
        try:
            rows = await self.store.fetch(
                "WITH RECURSIVE chain(id, previous_id, input, response, depth, size) AS ("
                " SELECT id, previous_id, input, response, 0, LENGTH(input) + LENGTH(response)"
                " FROM responses WHERE id = ? AND org_id = ? AND expires_at > ?"
                " UNION ALL"
                " SELECT r.id, r.previous_id, r.input, r.response, c.depth + 1,"
                " c.size + LENGTH(r.input) + LENGTH(r.response)"
                " FROM responses r JOIN chain c ON r.id = c.previous_id"
                " WHERE r.org_id = ? AND r.expires_at > ? AND c.depth < ?"
                " AND c.size + LENGTH(r.input) + LENGTH(r.response) <= ?)"
                " SELECT input, response FROM chain ORDER BY depth DESC",
                response_id,
                org_id,
                now,
                org_id,
                now,
                self.settings.max_turns - 1,
                self.settings.max_history_bytes,
            )
        except StoreUnavailable:
            raise unavailable() from None
        if not rows:
            raise not_found(response_id, "previous_response_id")
        items: list[dict[str, Any]] = []
        for inp, resp in rows:
            items.extend(orjson.loads(inp))
            items.extend(orjson.loads(resp).get("output") or [])
        return items

    async def sweep(self) -> None:
        await self.store.execute("DELETE FROM responses WHERE expires_at <= ?", time.time())

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as e:
                log.warning("responses sweep failed", extra={"error": type(e).__name__})
            await asyncio.sleep(self.settings.sweep_interval)
