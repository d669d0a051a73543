"""The in-process limiter on an injectable clock: exact bursts, refills on time, reserve and
settle, budgets per window, and the OpenAI header format."""

from __future__ import annotations

from aigw.limits.estimate import estimate_prompt_tokens
from aigw.limits.headers import format_reset
from aigw.limits.memory import MemoryBackend
from aigw.limits.rules import GCRA, REQUESTS, TOKENS, WINDOW, Check, Rule
from aigw.limits.tokens import reservation, reserve


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


RPM = Rule("rpm", REQUESTS, GCRA, 100, 60.0)
TPM = Rule("tpm", TOKENS, GCRA, 1000, 60.0)
BUDGET = Rule("budget", TOKENS, WINDOW, 500, 3600.0)


def req(rule: Rule = RPM, cost: int = 1, ident: str = "k1") -> Check:
    return Check(rule, "key", ident, cost)


async def test_burst_admits_exactly_the_limit_and_refills_on_time() -> None:
    clock = Clock()
    mem = MemoryBackend(clock)
    admitted = sum([(await mem.admit([req()])).allowed for _ in range(250)])
    assert admitted == 100
    refused = await mem.admit([req()])
    assert not refused.allowed
    assert abs(refused.retry_after - 0.6) < 1e-6  # one emission interval: 60s / 100
    assert refused.remaining == [0]

    clock.t += 0.599
    assert not (await mem.admit([req()])).allowed
    clock.t += 0.001
    assert (await mem.admit([req()])).allowed  # exactly one refilled after 0.6s
    assert not (await mem.admit([req()])).allowed

    clock.t += 60.0  # a whole period later the full burst is back, not more
    admitted = sum([(await mem.admit([req()])).allowed for _ in range(250)])
    assert admitted == 100


async def test_keys_are_independent_and_headers_count_down() -> None:
    mem = MemoryBackend(Clock())
    first = await mem.admit([req()])
    assert first.remaining == [99]
    assert abs(first.reset[0] - 0.6) < 1e-6
    for _ in range(99):
        await mem.admit([req()])
    assert not (await mem.admit([req()])).allowed
    assert (await mem.admit([req(ident="k2")])).allowed


async def test_all_or_nothing_over_several_limits() -> None:
    mem = MemoryBackend(Clock())
    small = Rule("rph", REQUESTS, GCRA, 3, 3600.0)
    both = [req(), Check(small, "org", "o1", 1)]
    assert all([(await mem.admit(both)).allowed for _ in range(3)])
    out = await mem.admit(both)
    assert not out.allowed and out.denied == 1
    # The refused decision counted nothing: the per-minute limit still has 97 left.
    assert (await mem.admit([req(cost=0)], dry=True)).remaining == [97]


async def test_token_reservation_then_settle_to_real_usage() -> None:
    clock = Clock()
    mem = MemoryBackend(clock)
    tpm = [req(TPM, 400)]
    a = await mem.admit(tpm)
    b = await mem.admit(tpm)
    assert a.allowed and b.allowed and b.remaining == [200]
    assert not (await mem.admit(tpm)).allowed  # 400 more would overshoot 1000
    await mem.settle(tpm, [30 - 400], a.windows)  # the first used only 30 tokens
    peek = await mem.admit([req(TPM, 0)], dry=True)
    assert peek.remaining == [1000 - 400 - 30]
    assert (await mem.admit(tpm)).allowed

    # Real usage above the reservation: the bucket goes into debt and later requests wait.
    clock.t += 120
    c = await mem.admit([req(TPM, 100)])
    await mem.settle([req(TPM, 100)], [1500 - 100], c.windows)
    out = await mem.admit([req(TPM, 1)])
    assert not out.allowed
    assert abs(out.retry_after - (1500 - 1000 + 1) * 0.06) < 1e-6


async def test_request_larger_than_a_limit_never_fits() -> None:
    mem = MemoryBackend(Clock())
    out = await mem.admit([req(TPM, 1001)])
    assert not out.allowed and out.retry_after == float("inf")


async def test_budget_window_resets_at_its_epoch_aligned_end() -> None:
    clock = Clock(3600.0 * 500_000 + 3000.0)  # 600s before an hour boundary
    mem = MemoryBackend(clock)
    b = [Check(BUDGET, "org", "o1", 200)]
    r1 = await mem.admit(b)
    r2 = await mem.admit(b)
    assert r1.allowed and r2.allowed and r2.remaining == [100]
    refused = await mem.admit(b)
    assert not refused.allowed and abs(refused.retry_after - 600.0) < 1e-6
    await mem.settle(b, [50 - 200], r1.windows)
    await mem.settle(b, [60 - 200], r2.windows)
    peek = [Check(BUDGET, "org", "o1", 0)]
    assert (await mem.admit(peek, dry=True)).remaining == [500 - 110]
    clock.t += 600.0
    assert (await mem.admit(peek, dry=True)).remaining == [500]
    # A late settle of the previous window does not touch the new one.
    await mem.settle(b, [300], r1.windows)
    assert (await mem.admit(peek, dry=True)).remaining == [500]


async def test_divisor_gives_each_process_its_share() -> None:
    mem = MemoryBackend(Clock(), divisor=3)
    assert sum([(await mem.admit([req()])).allowed for _ in range(100)]) == 33


def test_reset_format_is_openais() -> None:
    assert format_reset(0) == "0s"
    assert format_reset(0.12) == "120ms"
    assert format_reset(1) == "1s"
    assert format_reset(17.5) == "17.5s"
    assert format_reset(360) == "6m0s"
    assert format_reset(3723) == "1h2m3s"
    assert format_reset(3600) == "1h0m0s"


def test_reservation_is_prompt_estimate_plus_completion_cap() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}
    prompt = estimate_prompt_tokens("chat", body)
    assert 100 <= prompt <= 110
    assert reservation("chat", body, 1024) == prompt + 50
    del body["max_tokens"]
    assert reservation("chat", body, 1024) == prompt + 1024
    assert reservation("chat", {**body, "max_completion_tokens": 7, "n": 2}, 1024) == prompt + 14
    assert reservation("embeddings", {"input": ["abcd" * 10, [1, 2, 3]]}, 1024) == 13


def test_reserve_says_whether_the_client_stated_its_cap() -> None:
    msgs = [{"role": "user", "content": "x" * 40}]
    prompt = estimate_prompt_tokens("chat", {"messages": msgs})
    for endpoint, body, expected in [
        ("chat", {"messages": msgs}, (prompt + 1024, False)),
        ("chat", {"messages": msgs, "max_tokens": 50}, (prompt + 50, True)),
        ("chat", {"messages": msgs, "max_completion_tokens": 7, "n": 3}, (prompt + 21, True)),
        ("chat", {"messages": msgs, "max_tokens": True}, (prompt + 1024, False)),
        (
            "chat",
            {"messages": msgs, "max_tokens": 0, "max_completion_tokens": 9},
            (prompt + 9, True),
        ),
        ("embeddings", {"input": ["abcd" * 10]}, (10, True)),
    ]:
        assert reserve(endpoint, body, 1024) == expected, body


def test_a_check_names_its_state_and_keeps_the_name_at_another_cost() -> None:
    c = Check(TPM, "user", "o1/u1", 5)
    assert c.key == "user:o1/u1:tpm"
    other = c.costing(40)
    assert other.cost == 40 and other.key == c.key and other.rule is TPM
