"""Running real `aigw serve` processes in tests: free ports, config files, readiness."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`python -m aigw serve` in a child process, with its stderr kept in a file.
    `cfg=None`: no config file (the embedded defaults, from `env`), run in `tmp`."""

    def __init__(
        self,
        cfg: dict[str, Any] | None,
        tmp: Path,
        *args: str,
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp / f"aigw-{self.port}.yaml"
        config_args = ["--config", str(self.config_path)]
        if cfg is None:
            config_args = []
        else:
            cfg = dict(cfg)
            cfg.setdefault("data_dir", str(tmp / "data"))
            self.config_path.write_text(yaml.safe_dump(cfg))
        self.log_path = tmp / f"aigw-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aigw",
                "serve",
                *config_args,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=tmp if cfg is None else None,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"aigw exited early:\n{self.log()}")
                try:
                    async with s.get(self.url + "/health") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)  # polling a starting process, bounded by the deadline
        raise TimeoutError(f"aigw did not become ready:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("aigw did not exit")
            await asyncio.sleep(0.05)  # waiting for a child process to exit, bounded
        return self.proc.returncode

    async def stop(self) -> int:
        self.terminate()
        try:
            return await self.wait()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()
