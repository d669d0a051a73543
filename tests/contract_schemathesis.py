"""Contract run (`make test-contract`): schemathesis generates requests from /openapi.json
and sends them to a real `aigw serve` in front of the mock upstream; every answer must be
free of 5xx and match the document (status, content type, schema).

Not collected by `make test` (a minute or more of generated traffic); run by name. The
report goes to test-artifacts/contract.txt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_accounts import ADMIN_KEY
from tests.helpers_console import ARTIFACTS, console_config, serve, threaded_mock

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
MAX_EXAMPLES = os.environ.get("AIGW_CONTRACT_EXAMPLES", "40")


@pytest.mark.timeout(900)  # more examples (AIGW_CONTRACT_EXAMPLES) take longer than 120 s
def test_schemathesis_contract(tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert exe, "schemathesis missing: make dev"
    report = ARTIFACTS.parent / "contract.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    with threaded_mock() as mock:
        cfg = console_config(mock.url, ui={"max_failed_logins": 1_000_000})
        with serve(cfg, tmp_path) as gw:
            run = subprocess.run(
                [
                    exe,
                    "run",
                    gw.url + "/openapi.json",
                    "--checks",
                    CHECKS,
                    "--header",
                    f"Authorization: Bearer {ADMIN_KEY}",
                    "--max-examples",
                    MAX_EXAMPLES,
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--workers",
                    "2",
                    "--suppress-health-check",
                    "all",
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                timeout=900,
                env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            )
            report.write_text(run.stdout + run.stderr + "\n--- gateway log ---\n" + gw.log())
    assert run.returncode == 0, f"contract failures (full report: {report}):\n{run.stdout[-6000:]}"
