"""Cost routing: the scorers, the evaluation maths, the config section, and the stage in the
real gateway (openai SDK in front, the mock upstream behind, two models on it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import openai
import pytest

from aigw import config as configmod
from aigw.bench.mock_upstream import MockOpenAI
from aigw.config import ConfigError
from aigw.pipeline import JSONResult, RequestContext
from aigw.routing.complexity import HeuristicScorer, features
from aigw.routing.cost_router import INLINE_CHARS, last_user_text
from aigw.routing.cost_router import build as build_cost_router
from aigw.routing.evaluation import (
    cost_saving,
    curve,
    folds,
    random_curve,
    threshold_for_quality,
)
from aigw.routing.learned import (
    DEFAULT_MODEL_FILE,
    GainModel,
    LearnedScorer,
    fit_logistic,
    save_model,
)
from aigw.types import GatewayError, Principal
from tests.conftest import mock_config

EASY = "Write a haiku about spring."
GREETING = "Hi! What's the capital of France?"
HARD_CODE = (
    "Implement a lock-free concurrent hash map in C++ with `compare_exchange_weak`, explain "
    "the memory ordering of each atomic operation, and analyze why the ABA problem cannot "
    "occur in your design.\n```cpp\ntemplate <class K, class V> class Map { };\n```"
)
HARD_MORAL = (
    "For which of these two scenarios does the main character (who uses I/we) do something "
    "clearly morally wrong, according to ordinary moral standards in the US as of 2020? "
    "Scenario 1 | I took his wallet after he fell asleep. Scenario 2 | I helped my neighbour "
    "carry groceries.\nA. Wrong, Wrong\nB. Wrong, Not wrong\nC. Not wrong, Wrong\n"
    "D. Not wrong, Not wrong\nAnswer:"
)

# --- the transparent scorer -------------------------------------------------------------


def test_features_detect_code_math_reasoning_and_length() -> None:
    plain = features(GREETING)
    code = features(HARD_CODE)
    maths = features("Solve 3x + 7 = 22 and compute the sum of 14, 27 and 3.5; how many are prime?")
    why = features("Explain why the argument is invalid and compare the two scenarios.")
    assert all(0.0 <= v <= 1.0 for f in (plain, code, maths, why) for v in f.values())
    assert code["code"] > 0.8 and plain["code"] == 0.0
    assert maths["math"] > 0.5 and plain["math"] < 0.2
    assert why["reasoning"] > 0.5 and plain["reasoning"] == 0.0
    assert features("word " * 2000)["length"] > 0.9 > 0.1 > plain["length"]


def test_heuristic_score_orders_prompts_and_explains_itself() -> None:
    h = HeuristicScorer()
    easy, hard = h.score(GREETING), h.score(HARD_CODE)
    assert 0.0 < easy < h.default_threshold <= hard < 1.0
    ex = h.explain(HARD_CODE)
    assert ex.score == pytest.approx(hard)
    # The contributions are the whole story: bias + their sum is the logit of the score.
    logit = math.log(ex.score / (1 - ex.score))
    assert logit == pytest.approx(h.bias + sum(ex.contributions.values()))
    assert max(ex.contributions, key=ex.contributions.__getitem__) == "code"
    assert h.score_many([GREETING, HARD_CODE]) == [easy, hard]


def test_last_user_text_takes_the_last_user_message() -> None:
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url"},
                {"type": "text", "text": "b"},
            ],
        },
    ]
    assert last_user_text(msgs) == "a b"
    assert last_user_text(msgs[:3]) == "first"
    assert last_user_text([{"role": "system", "content": "x"}]) == ""
    assert last_user_text("not a list") == ""
    assert len(last_user_text([{"role": "user", "content": "x" * 100_000}])) == 8000


# --- the learned scorer -----------------------------------------------------------------


def test_fit_logistic_is_deterministic_and_learns_the_direction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - 0.5 * x[:, 2] + 0.3 * rng.normal(size=400) > 0).astype(float)
    w1, w2 = fit_logistic(x, y, l2=1.0), fit_logistic(x, y, l2=1.0)
    assert np.array_equal(w1, w2)
    assert w1[0] > 1.0 and w1[2] < -0.5 and abs(w1[1]) < 0.5 * w1[0]
    # The gain model: strong always right, weak right only when x0 < 0 -> gain where x0 > 0.
    strong = np.ones(400)
    strong[0] = 0.0  # one miss so the strong regression has two classes
    weak = (x[:, 0] < 0).astype(float)
    g = GainModel.fit(x, strong, weak, l2=1.0).gain_score(x)
    assert g[x[:, 0] > 1].mean() > 0.8 > 0.6 > g[x[:, 0] < -1].mean()


def test_shipped_model_loads_and_scores_hard_above_easy() -> None:
    s = LearnedScorer()
    assert s.meta["trained_on"]["file"] == "prompts.dev.jsonl"
    assert 0.5 < s.default_threshold < 0.7
    easy, hard = s.score(EASY), s.score(HARD_MORAL)
    assert 0.0 <= easy < s.default_threshold <= hard <= 1.0
    assert s.score_many([EASY, HARD_MORAL]) == pytest.approx([easy, hard], abs=1e-6)


def test_learned_scorer_rejects_a_bad_file(tmp_path: Any) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not an aigw-router/1 file"):
        LearnedScorer(bad)
    text = DEFAULT_MODEL_FILE.read_text().replace('"w_weak": [', '"w_weak": [1.0, ', 1)
    short = tmp_path / "s.json"
    short.write_text(text.replace('"w_strong": [', '"w_strong": [1.0, ', 1))
    with pytest.raises(ValueError, match="do not match the embedding model"):
        LearnedScorer(short)


# --- evaluation maths -------------------------------------------------------------------


def test_curve_sends_the_highest_scores_to_the_strong_model_first() -> None:
    strong = np.array([1.0, 1.0, 1.0, 0.0])
    weak = np.array([0.0, 1.0, 0.0, 1.0])
    scores = np.array([0.9, 0.1, 0.8, 0.2])
    c = curve(scores, strong, weak)
    assert c.share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    # 0 strong: 2/4; +row0: 3/4; +row2: 4/4; +row3 (strong worse): 3/4; +row1: 3/4.
    assert c.quality.tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]
    assert c.min_share_for(0.95 * c.strong_quality) == 0.25
    assert threshold_for_quality(scores, strong, weak, 0.95) == 0.9
    assert threshold_for_quality(scores, strong, weak, 1.3) == 0.8  # quality 1.0 at 2 rows
    r = random_curve(strong, weak)
    assert r.at_share(0.5) == pytest.approx(0.625) and r.apgr() == pytest.approx(0.5)
    assert c.apgr() > r.apgr()
    assert cost_saving(0.0, 2.5, 0.15) == pytest.approx(0.94)
    assert cost_saving(1.0, 2.5, 0.15) == 0.0


def test_folds_keep_duplicate_prompts_together() -> None:
    prompts = ["a", "b", "a", "c", "b"] * 20
    f = folds(prompts, 5)
    assert f[0] == f[2] and f[1] == f[4]
    assert set(f.tolist()) <= set(range(5))
    assert np.array_equal(f, folds(prompts, 5)) and not np.array_equal(f, folds(prompts, 5, 1))


# --- config -----------------------------------------------------------------------------


def routed_config(mock: MockOpenAI, **routers: Any) -> dict[str, Any]:
    return mock_config(
        mock.url,
        models={
            "strong-m": {"provider": "mock", "model": "upstream-strong"},
            "cheap-m": {"provider": "mock", "model": "upstream-cheap"},
        },
        routers=routers or {"auto": {"strong": "strong-m", "cheap": "cheap-m"}},
    )


def _err(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as e:
        configmod.from_dict(cfg, env={})
    return str(e.value)


def test_config_defaults_and_validation_errors(mock: MockOpenAI) -> None:
    cfg = configmod.from_dict(routed_config(mock), env={})
    r = cfg.routers["auto"]
    assert (r.strong, r.cheap, r.scorer, r.threshold) == ("strong-m", "cheap-m", "learned", None)
    assert configmod.from_dict(mock_config(mock.url), env={}).routers == {}

    def bad(**router: Any) -> str:
        return _err(routed_config(mock, auto={"strong": "strong-m", "cheap": "cheap-m", **router}))

    assert bad(strong="gpt-5") == (
        "config error: routers.auto.strong: unknown model 'gpt-5' "
        "(configured: gpt-test, embed-test, strong-m, cheap-m)"
    )
    assert bad(cheap="nope").startswith("config error: routers.auto.cheap: unknown model 'nope'")
    assert "routers.auto.threshold" in bad(threshold=1.5)
    assert "routers.auto.scorer" in bad(scorer="magic")
    assert bad(extra=1) == "config error: routers.auto.extra: unknown key"
    clash = routed_config(mock, **{"cheap-m": {"strong": "strong-m", "cheap": "gpt-test"}})
    assert _err(clash).startswith("config error: routers.cheap-m: the name is also a model")
    dangling = routed_config(mock)
    dangling["models"]["gpt-test"] = {"provider": "mock", "router": "fast"}
    assert _err(dangling) == (
        "config error: models.gpt-test.router: unknown router 'fast' (configured: auto)"
    )


# --- the stage in the gateway -----------------------------------------------------------


async def ask(g: Any, model: str, text: str, **kw: Any) -> Any:
    return await g.openai().chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": text},
        ],
        **kw,
    )


@pytest.mark.parametrize(
    ("scorer", "easy", "hard"), [("heuristic", GREETING, HARD_CODE), ("learned", EASY, HARD_MORAL)]
)
async def test_auto_sends_easy_to_cheap_and_hard_to_strong(
    mock: MockOpenAI, start_gateway: Any, scorer: str, easy: str, hard: str
) -> None:
    g = await start_gateway(
        routed_config(mock, auto={"strong": "strong-m", "cheap": "cheap-m", "scorer": scorer})
    )
    r = await ask(g, "auto", easy)
    assert mock.calls[-1]["body"]["model"] == "upstream-cheap"
    assert r.headers["x-aigw-route"] == "cheap-m; router=auto"
    easy_score = float(r.headers["x-aigw-route-score"])
    assert r.parse().choices[0].message.content == mock.text

    r = await ask(g, "auto", hard)
    assert mock.calls[-1]["body"]["model"] == "upstream-strong"
    assert r.headers["x-aigw-route"] == "strong-m; router=auto"
    assert float(r.headers["x-aigw-route-score"]) > easy_score
    # The client's messages reach the upstream unchanged.
    assert mock.calls[-1]["body"]["messages"][-1]["content"] == hard
    assert r.headers["x-aigw-deployment"] == "mock/upstream-strong"


async def test_streams_carry_the_route_headers_and_named_routers_work(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(
        routed_config(
            mock,
            auto={"strong": "strong-m", "cheap": "cheap-m", "scorer": "heuristic"},
            always={
                "strong": "strong-m",
                "cheap": "cheap-m",
                "scorer": "heuristic",
                "threshold": 0.0,
            },
        )
    )
    r = await ask(g, "always", GREETING, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in r.parse() if c.choices])
    assert text == mock.text
    assert r.headers["x-aigw-route"] == "strong-m; router=always"
    assert mock.calls[-1]["body"]["model"] == "upstream-strong"
    assert mock.calls[-1]["body"]["stream"] is True
    # A long prompt is scored off the event loop, with the same outcome.
    long_hard = HARD_CODE + "\n" + "Keep every invariant in mind. " * 100
    assert len(long_hard) > INLINE_CHARS
    r = await ask(g, "auto", long_hard)
    assert r.headers["x-aigw-route"] == "strong-m; router=auto"
    assert mock.calls[-1]["body"]["messages"][-1]["content"] == long_hard
    # A concrete model name is not routed: no route headers, its own upstream.
    r = await ask(g, "cheap-m", HARD_CODE)
    assert "x-aigw-route" not in r.headers
    assert mock.calls[-1]["body"]["model"] == "upstream-cheap"


async def test_a_model_with_a_router_field_is_routed(mock: MockOpenAI, start_gateway: Any) -> None:
    cfg = routed_config(
        mock, smart={"strong": "strong-m", "cheap": "cheap-m", "scorer": "heuristic"}
    )
    cfg["models"]["gpt-test"] = {"provider": "mock", "model": "upstream-model", "router": "smart"}
    g = await start_gateway(cfg)
    r = await ask(g, "gpt-test", HARD_CODE)
    assert r.headers["x-aigw-route"] == "strong-m; router=smart"
    assert mock.calls[-1]["body"]["model"] == "upstream-strong"


async def test_unknown_router_is_a_404_in_openai_shape(
    mock: MockOpenAI, start_gateway: Any
) -> None:
    g = await start_gateway(
        routed_config(mock, smart={"strong": "strong-m", "cheap": "cheap-m", "scorer": "heuristic"})
    )
    with pytest.raises(openai.NotFoundError) as e:
        await ask(g, "auto", GREETING)
    assert e.value.status_code == 404
    assert e.value.body["code"] == "model_not_found" and e.value.body["param"] == "model"
    assert "`auto`" in e.value.body["message"]
    assert mock.count == 0
    # Raw shape on the wire, too.
    async with g.http.post(
        g.url + "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer sk-client"},
    ) as resp:
        body = await resp.json()
    assert resp.status == 404
    assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_a_credential_limited_to_some_models_gets_only_those(mock: MockOpenAI) -> None:
    cfg = configmod.from_dict(
        routed_config(mock, auto={"strong": "strong-m", "cheap": "cheap-m", "scorer": "heuristic"}),
        env={},
    )
    stage = build_cost_router(cfg)
    assert stage is not None
    seen: list[str] = []

    async def last(ctx: RequestContext) -> JSONResult:
        seen.append(ctx.model)
        return JSONResult({})

    def ctx(text: str, allowed: frozenset[str] | None) -> RequestContext:
        body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        return RequestContext(
            "r",
            "chat",
            body,
            {},
            "auto",
            principal=Principal(allowed_models=allowed, via="api_key"),
        )

    await stage.handle(ctx(HARD_CODE, None), last)
    await stage.handle(ctx(HARD_CODE, frozenset({"auto", "cheap-m"})), last)
    await stage.handle(ctx(GREETING, frozenset({"auto", "strong-m"})), last)
    assert seen == ["strong-m", "cheap-m", "strong-m"]
    c = ctx(GREETING, frozenset({"auto"}))
    with pytest.raises(GatewayError) as e:
        await stage.handle(c, last)
    assert (e.value.status, e.value.code) == (403, "model_not_allowed")
    # Embeddings are never routed.
    emb = RequestContext("r", "embeddings", {"model": "auto", "input": "x"}, {}, "auto")
    await stage.handle(emb, last)
    assert seen[-1] == "auto" and "x-aigw-route" not in emb.response_headers


async def test_a_router_with_its_own_model_file(
    mock: MockOpenAI, start_gateway: Any, tmp_path: Any
) -> None:
    # A model that always expects the strong model to win (biases only) and says so with
    # its own threshold: every prompt, even a greeting, goes to the strong model.
    n = LearnedScorer().model.w_strong.shape[0]
    w_strong, w_weak = np.zeros(n), np.zeros(n)
    w_strong[-1], w_weak[-1] = 6.0, -6.0
    path = tmp_path / "always-strong.json"
    save_model(path, GainModel(w_strong, w_weak), 0.9, {"embedding_model": "potion-base-8M-int8"})
    assert LearnedScorer(path).default_threshold == 0.9
    g = await start_gateway(
        routed_config(
            mock, auto={"strong": "strong-m", "cheap": "cheap-m", "model_file": str(path)}
        )
    )
    r = await ask(g, "auto", GREETING)
    assert r.headers["x-aigw-route"] == "strong-m; router=auto"
    assert float(r.headers["x-aigw-route-score"]) > 0.99
    assert mock.calls[-1]["body"]["model"] == "upstream-strong"
