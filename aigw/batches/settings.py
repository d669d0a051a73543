"""The `batches:` config section: files, the batch worker's pace, and its leases."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aigw.sections import Duration, Section, Size


class BatchesConfig(Section):
    enabled: bool = True
    # Uploads: the largest file accepted (OpenAI's own cap is 200 MB; files are kept in the
    # database, so the default is smaller), the most lines a batch may hold, and how long an
    # upload may take.
    max_file_bytes: Size = 50 * 1000**2
    max_lines: int = Field(50_000, ge=1)
    upload_timeout: Duration = 300.0
    # What one organisation may keep: files stored (uploads and results) and batches not
    # yet finished. Past these, uploads and new batches are refused with a 400.
    max_files_per_org: int = Field(1000, ge=1)
    max_active_batches_per_org: int = Field(100, ge=1)
    # Lines one gateway process runs at once. Batch lines always queue behind interactive
    # requests for a deployment's `max_concurrency` slots; this bound also keeps a batch from
    # flooding a deployment that has no `max_concurrency`.
    concurrency: int = Field(4, ge=1, le=1024)
    # A claimed line belongs to its worker until the lease ends; a live worker renews it
    # every lease/3. A worker that died (SIGKILL, power loss) leaves its lines to others
    # once the lease has run out.
    lease: Duration = Field(60.0, gt=0)
    # What happens to a line whose worker died while it was in flight (its upstream call
    # may or may not have happened): `retry` runs it again (at-least-once upstream; the
    # output still has it once), `fail` puts it in the error file (at-most-once upstream).
    on_interrupted: Literal["retry", "fail"] = "retry"
    # Tries of one line against retryable upstream failures (5xx, timeouts, upstream 429)
    # before it fails. Waits for the gateway's own rate limits or queue are not counted.
    max_attempts: int = Field(3, ge=1)
    retry_delay: Duration = Field(1.0, gt=0)  # backoff: uniform(0, delay * 2^(tries - 1))
    # How often an idle worker looks for work (new batches, expired leases).
    poll_interval: Duration = Field(1.0, gt=0)
