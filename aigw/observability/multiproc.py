"""Metrics across `--workers N`: the parent prepares prometheus-client's multiprocess
directory before forking, so every worker writes its figures there and any of them can
answer a scrape with the sum."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"


class MultiprocDir:
    def __init__(self) -> None:
        given = os.environ.get(ENV)
        self.owned = not given
        self.path = given or tempfile.mkdtemp(prefix="aigw-metrics-")
        os.makedirs(self.path, exist_ok=True)
        # Figures from an earlier run must not be added to this one's.
        for f in glob.glob(os.path.join(self.path, "*.db")):
            os.remove(f)
        os.environ[ENV] = self.path

    def worker_exited(self, pid: int | None) -> None:
        """Its live gauges (in-flight, queue length, ...) leave the sums; counters stay."""
        if pid:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.path)

    def close(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
            if os.environ.get(ENV) == self.path:  # ours still (a caller may have set another)
                os.environ.pop(ENV, None)
