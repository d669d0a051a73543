"""`responses:` config: the Responses API's conversation store."""

from __future__ import annotations

from pydantic import Field

from aigw.sections import Duration, Section, Size


class ResponsesConfig(Section):
    # How long a stored response (its input and output) is kept for GET and for
    # previous_response_id; expired ones are deleted by a sweep. OpenAI keeps 30 days.
    retention: Duration = 30 * 86400.0
    # A response whose stored form (input + answer) is larger is answered but not stored.
    max_stored_bytes: Size = 4 * 1000**2
    # previous_response_id chains are followed at most this many turns back, and only as
    # far as their stored size stays under max_history_bytes: older turns are left out.
    max_turns: int = Field(256, ge=1, le=10000)
    max_history_bytes: Size = 32 * 1000**2
    # How often expired responses are swept (each worker sweeps; the delete is idempotent).
    sweep_interval: Duration = 600.0
