"""Request and record ids: their shape, and that record ids made later sort later."""

from __future__ import annotations

import re
import time

from aigw.ids import hex_id, ordered_id


def test_hex_id_is_fixed_width_lowercase_hex() -> None:
    ids = {hex_id() for _ in range(2000)}
    assert len(ids) == 2000  # 128 random bits: no repeats
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    # Leading zero bits keep the width (a 4-byte id is always 8 digits).
    assert all(re.fullmatch(r"[0-9a-f]{8}", hex_id(4)) for _ in range(2000))


def test_ordered_ids_sort_by_time() -> None:
    first = ordered_id()
    made = int(first[:16], 16)
    while time.time_ns() <= made:  # the clock must move: two ids of one nanosecond may not sort
        pass
    later = [ordered_id() for _ in range(100)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in [first, *later])
    assert all(first < i for i in later)
