"""Unique ids for requests and records, cheaply.

`os.urandom` is a system call per id (measured at ~3% of a pass-through request's CPU on a
virtual machine); ids need to be unique, not secret, so they come from the `random` module,
whose generator is seeded from the OS and re-seeded in every forked worker by Python itself.
Never use these for secrets (API keys use `secrets`).
"""

from __future__ import annotations

import random
import time

_bits = random.getrandbits


def hex_id(nbytes: int = 16) -> str:
    """A random id of 2*nbytes hex digits."""
    # bytes.hex: 0.2-0.4 us here, where an f-string with a nested width took 0.8 us.
    return _bits(nbytes * 8).to_bytes(nbytes, "big").hex()


def ordered_id() -> str:
    """24 hex digits: the time in ns, then 32 random bits. Ids made later sort later, so a
    database index on them grows at one end instead of splitting pages all over (measured:
    a quarter less SQLite time per usage row than random ids)."""
    return (time.time_ns() << 32 | _bits(32)).to_bytes(12, "big").hex()
