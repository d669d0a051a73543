"""`aigw serve` that cannot start says why in one line and exits non-zero, instead of a
traceback and a process that never exits (one worker and --workers N alike)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# A deadline is the point here: before the fix the process hung after its traceback.
EXIT_DEADLINE = 120


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
    return subprocess.run(
        [sys.executable, "-m", "aigw", "serve", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXIT_DEADLINE,
    )


def _errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the JSON log lines."""
    return [line for line in r.stderr.splitlines() if line and not line.startswith("{")]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_one_line_and_a_non_zero_exit(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _serve(tmp_path, "--host", "127.0.0.1", "--port", str(port), "--workers", workers)
    assert r.returncode == 1
    assert _errors(r) == [f"cannot listen on 127.0.0.1:{port}: address already in use"]
    assert "Traceback" not in r.stderr + r.stdout


def test_an_address_that_is_not_ours(tmp_path: Path) -> None:
    r = _serve(tmp_path, "--host", "192.0.2.1", "--port", "8080")  # TEST-NET-1
    assert r.returncode == 1
    assert _errors(r) == ["cannot listen on 192.0.2.1:8080: cannot assign requested address"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_data_dir_that_cannot_be_created(tmp_path: Path, workers: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = tmp_path / "aigw.yaml"
    cfg.write_text(f"data_dir: {blocker}/data\n")
    r = _serve(tmp_path, "-c", str(cfg), "--port", "0", "--workers", workers)
    assert r.returncode == 1
    lines = _errors(r)
    assert lines and set(lines) == {f"cannot start: {blocker}/data: not a directory"}
    assert "Traceback" not in r.stderr + r.stdout


# `aigw serve --workers 3` where the system refuses the second fork (out of memory or
# processes: as root that cannot be produced for real, so the fork itself is made to fail).
_NO_SECOND_FORK = """
import errno, multiprocessing.context as mpc, sys
from aigw import config
from aigw.cli import serve

real, forks = mpc.ForkProcess._Popen, []
def popen(process):
    forks.append(process)
    if len(forks) > 1:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    return real(process)
mpc.ForkProcess._Popen = staticmethod(popen)
cfg = config.from_dict({"data_dir": sys.argv[1], "server": {"port": int(sys.argv[2]), "workers": 3}})
try:
    serve.run_workers(cfg)
except serve.StartupFailed as e:
    print(e)
print("first worker exit code:", forks[0].exitcode)
"""


def test_a_fork_that_fails_stops_the_workers_already_started(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run(
        [sys.executable, "-c", _NO_SECOND_FORK, str(tmp_path / "data"), str(port)],
        capture_output=True,
        text=True,
        timeout=EXIT_DEADLINE,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "cannot start workers: resource temporarily unavailable",
        "first worker exit code: 0",  # it started, then stopped cleanly
    ], r.stderr
