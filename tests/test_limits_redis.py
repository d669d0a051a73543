"""The Redis backend against real Redis: one Lua script per decision, exact under
concurrency, all or nothing, reserve then settle, and Redis Cluster-safe keys."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from redis.crc import key_slot

from aigw.limits.redis_backend import RedisBackend
from aigw.limits.rules import GCRA, REQUESTS, TOKENS, WINDOW, Check, Rule

RPH = Rule("rph", REQUESTS, GCRA, 100, 3600.0)  # refills one per 36s: no refill mid-test
TPM = Rule("tpm", TOKENS, GCRA, 1000, 60.0)
BUDGET = Rule("budget", TOKENS, WINDOW, 1000, 86400.0)


def backend(url: str, prefix: str, tag_by_org: bool = False) -> RedisBackend:
    return RedisBackend(url, prefix, 1.0, tag_by_org)


async def test_concurrent_burst_admits_exactly_the_limit(redis_url: str, redis_prefix: str) -> None:
    # Two clients (as two gateways would be) race 300 decisions against one limit.
    a, b = backend(redis_url, redis_prefix), backend(redis_url, redis_prefix)
    try:
        check = [Check(RPH, "key", "k1", 1)]
        outs = await asyncio.gather(*[(a if i % 2 else b).admit(check, "o") for i in range(300)])
        assert sum(o.allowed for o in outs) == 100
        remaining = sorted(o.remaining[0] for o in outs if o.allowed)
        assert remaining == list(range(100))  # every admission saw its own count
        refused = [o for o in outs if not o.allowed]
        assert all(34 < o.retry_after <= 36 for o in refused)
    finally:
        await a.close()
        await b.close()


async def test_all_or_nothing_and_settle(redis_url: str, redis_prefix: str) -> None:
    be = backend(redis_url, redis_prefix)
    try:
        tpm = Check(TPM, "key", "k1", 400)
        budget = Check(BUDGET, "org", "o1", 400)
        r1 = await be.admit([tpm, budget], "o1")
        r2 = await be.admit([tpm, budget], "o1")
        assert r1.allowed and r2.allowed
        assert r2.remaining == [200, 200]
        refused = await be.admit([tpm, budget], "o1")
        assert not refused.allowed and refused.denied == 0
        # Both limits refuse; the wait is the longer one: the budget's window end.
        assert refused.retry_after == refused.reset[1] > 0

        # Settle both reservations to their real usage (30 and 45 tokens).
        await be.settle([tpm, budget], [30 - 400, 30 - 400], r1.windows, "o1")
        await be.settle([tpm, budget], [45 - 400, 45 - 400], r2.windows, "o1")
        peek = await be.admit([Check(TPM, "key", "k1", 0), Check(BUDGET, "org", "o1", 0)], "o1")
        assert peek.remaining[1] == 1000 - 75  # the budget is exact
        assert 1000 - 75 <= peek.remaining[0] <= 1000 - 75 + 2  # the rate refills meanwhile

        # Over-use beyond the reservation: the budget counts it, later requests wait.
        r3 = await be.admit([Check(BUDGET, "org", "o1", 10)], "o1")
        await be.settle([Check(BUDGET, "org", "o1", 10)], [990], r3.windows, "o1")
        late = await be.admit([Check(BUDGET, "org", "o1", 1)], "o1")
        assert not late.allowed and late.remaining == [0]
    finally:
        await be.close()


async def test_refused_decision_counts_nothing(redis_url: str, redis_prefix: str) -> None:
    be = backend(redis_url, redis_prefix)
    try:
        small = Rule("rph", REQUESTS, GCRA, 2, 3600.0)
        big = Check(RPH, "key", "k1", 1)
        assert (await be.admit([big, Check(small, "org", "o", 1)], "o")).allowed
        assert (await be.admit([big, Check(small, "org", "o", 1)], "o")).allowed
        out = await be.admit([big, Check(small, "org", "o", 1)], "o")
        assert not out.allowed and out.denied == 1
        again = await be.admit([Check(RPH, "key", "k1", 0)], "o", dry=True)
        assert again.remaining == [98]
        never = await be.admit([Check(TPM, "key", "k1", 5000)], "o")
        assert not never.allowed and never.retry_after == float("inf")
    finally:
        await be.close()


async def test_keys_of_one_decision_share_a_cluster_slot(redis_url: str, redis_prefix: str) -> None:
    checks = [
        Check(RPH, "key", "k1", 1),
        Check(TPM, "user", "o1/u1", 5),
        Check(BUDGET, "org", "o1", 5),
    ]
    for by_org in (False, True):
        be = backend(redis_url, redis_prefix, tag_by_org=by_org)
        try:
            keys = be.keys(checks, "o1")
            assert len({key_slot(k.encode()) for k in keys}) == 1
            assert all(k.startswith("{" + redis_prefix) for k in keys)
            out = await be.admit(checks, "o1")
            assert out.allowed
        finally:
            await be.close()
    # Organisations spread over the cluster when there is no global limit.
    be = backend(redis_url, redis_prefix, tag_by_org=True)
    slots = {key_slot(be.keys(checks, f"org{i}")[0].encode()) for i in range(50)}
    await be.close()
    assert len(slots) > 40
    # The script wrote the state under exactly those keys.
    r = redis.from_url(redis_url)
    try:
        assert await r.exists(*backend(redis_url, redis_prefix).keys(checks, "o1")) == 3
    finally:
        await r.aclose()
