"""Loading the embedding model at start-up prints nothing of its own (huggingface_hub's
"Repo card metadata block was not found" used to appear on every start), while a real
problem with the model still stops the start with a clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp

from aigw.embedding import bundled_model_path
from tests.procs import ServeProcess

CHATTER = "Repo card metadata block was not found"


async def _start_and_stop(cfg: dict, tmp: Path) -> str:  # type: ignore[type-arg]
    srv = ServeProcess(cfg, tmp)
    try:
        await srv.ready()
        async with aiohttp.ClientSession() as s, s.get(srv.url + "/health") as r:
            assert r.status == 200
    finally:
        await srv.stop()
    return srv.log()


async def test_the_bundled_model_loads_quietly(tmp_path: Path) -> None:
    log = await _start_and_stop({"cache": {"enabled": True}}, tmp_path)
    assert CHATTER not in log
    assert "aigw listening" in log


async def test_a_model_without_card_metadata_loads_quietly(tmp_path: Path) -> None:
    model = tmp_path / "my-model"
    shutil.copytree(bundled_model_path(), model)
    readme = model / "README.md"
    readme.write_text(readme.read_text().split("---\n", 2)[-1])  # no YAML front matter
    log = await _start_and_stop({"cache": {"enabled": True, "model": str(model)}}, tmp_path)
    assert CHATTER not in log
    assert "aigw listening" in log


async def test_a_missing_model_still_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    srv = ServeProcess({"cache": {"enabled": True, "model": str(missing)}}, tmp_path)
    code = await srv.wait(120)
    srv._log.close()
    assert code == 1
    assert f"embedding model directory not found: {missing}" in srv.log()
    assert "Traceback" not in srv.log()
