"""Every module of the package imports on its own, first, in a fresh interpreter: no module
may work only because another happened to be imported before it (a half-initialised cycle)."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import pytest

import aigw


def _modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.walk_packages(aigw.__path__, "aigw.") if "__main__" not in m.name
    )


@pytest.mark.timeout(300)
def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    mods = _modules()
    assert "aigw.cache.settings" in mods and "aigw.config" in mods
    # One interpreter per module (each must be the first aigw import there), a few per
    # process start to keep it quick: a fork per module from a parent that imported nothing.
    script = (
        "import os, sys, importlib\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            importlib.import_module(name)\n"
        "        except BaseException as e:\n"
        "            print(f'{name}: {type(e).__name__}: {e}', flush=True)\n"
        "            os._exit(1)\n"
        "        os._exit(0)\n"
        "    _, status = os.waitpid(pid, 0)\n"
        "    if status:\n"
        "        bad.append(name)\n"
        "print('FAILED:', ' '.join(bad))\n"
    )
    # The modules split over the cores, each part in its own interpreter: ~80 s in one on
    # the 2-core build box, too close to the suite's per-test timeout on a loaded one.
    parts = max(1, min(4, os.cpu_count() or 1))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *mods[i::parts]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(parts)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=280)
        assert proc.returncode == 0, err
        assert out.strip().endswith("FAILED:"), out
