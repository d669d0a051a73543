"""What the stage talks to: decide (all or nothing) and settle, whatever the backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aigw.limits.memory import MemoryBackend
from aigw.limits.rules import Check, Outcome


class LocalLimiter:
    """One process on its own: the in-process backend, nothing to connect."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    async def admit(self, checks: Sequence[Check], org: str, dry: bool = False) -> Outcome:
        return self.backend.admit_now(checks, dry)

    async def settle(
        self, outcome: Outcome, checks: Sequence[Check], deltas: Sequence[int], org: str
    ) -> None:
        await self.backend.settle(checks, deltas, outcome.windows, org)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {"backend": "memory", "divisor": self.backend.divisor}
