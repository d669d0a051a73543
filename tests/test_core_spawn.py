"""Gateway.spawn: bookkeeping runs at once when it can, in a task when it must wait, and
shutdown waits for it."""

from __future__ import annotations

import asyncio

import pytest

from aigw import config as configmod
from aigw.server.gateway import Gateway


@pytest.fixture
def gateway() -> Gateway:
    return Gateway(
        configmod.from_dict({"auth": {"required": False}, "logging": {"level": "warning"}})
    )


async def test_work_that_never_waits_is_done_before_spawn_returns(gateway: Gateway) -> None:
    done = []

    async def quick() -> None:
        done.append(1)

    gateway.spawn(quick())
    assert done == [1] and not gateway._background


async def test_work_that_waits_goes_on_in_a_task_and_stop_waits_for_it(gateway: Gateway) -> None:
    gate = asyncio.Event()
    steps = []

    async def slow() -> None:
        steps.append("started")
        await gate.wait()
        await asyncio.sleep(0)  # a bare yield after the wait, as asyncio code does
        steps.append("finished")

    gateway.spawn(slow())
    assert steps == ["started"] and len(gateway._background) == 1
    gate.set()
    await gateway.stop()
    assert steps == ["started", "finished"] and not gateway._background


async def test_errors_and_cancellation_reach_the_coroutine(gateway: Gateway) -> None:
    seen = []

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def cleans_up() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    gateway.spawn(fails_later())
    gateway.spawn(cleans_up())
    tasks = list(gateway._background)
    for t in tasks:
        if not t.done():
            await asyncio.sleep(0)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert seen == ["cancelled"]
    assert not gateway._background
