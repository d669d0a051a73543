"""Unique ids for requests and records, cheaply.

`os.urandom` is a system call per id (measured at ~3% of a pass-through request's CPU on a
virtual machine); ids need to be unique, not secret, so they come from the `random` module,
whose generator is seeded from the OS and re-seeded in every forked worker by Python itself.
Never use these for secrets (API keys use `secrets`).
"""

from __future__ import annotations

import random

_bits = random.getrandbits


def hex_id(nbytes: int = 16) -> str:
    """A random id of 2*nbytes hex digits."""
    return f"{_bits(nbytes * 8):0{nbytes * 2}x}"
