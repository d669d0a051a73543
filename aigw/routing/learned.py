"""A learned complexity scorer: model2vec embedding of the prompt + two logistic regressions.

One regression predicts P(strong model answers well), the other P(cheap model answers well),
both from the same features: the prompt's embedding (bundled potion-base-8M, 256 dims) and
the transparent features of `complexity.py`. The score is the expected quality the strong
model adds, mapped from [-1, 1] to [0, 1]: 0.5 means "no difference expected", above 0.5 the
strong model is expected to do better. Ranking by this gain beat predicting only "the cheap
model fails" in cross-validation (see docs/ROUTING.md): prompts that both models fail are
not worth the strong model's price.

At run time this is numpy only: one embedding (~0.1 ms) and two dot products. The weights
come from `scripts/train_router.py` and live in `aigw/routing/data/router-v1.json`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from aigw.routing.complexity import features as heuristic_features

DEFAULT_MODEL_FILE = Path(__file__).resolve().parent / "data" / "router-v1.json"
FORMAT = "aigw-router/1"
# The embedding sees at most this much of a prompt: the head carries the task, and the cost
# of scoring stays bounded for very long prompts.
EMBED_CHARS = 2000
HEURISTIC_FEATURES = ("length", "code", "math", "reasoning", "constraints", "questions")
# Shape features next to them: log length (and its square), whether the prompt offers lettered
# choices, and log length of open questions only (length means more there than in a
# multiple-choice question, where it mostly measures the passage).
SHAPE_FEATURES = ("log_length", "log_length_sq", "choices", "open_log_length")
_CHOICE_LINE = re.compile(r"^\s*\(?[A-Ea-e][.)]\s", re.M)


def _embedder(name: str | None = None) -> Any:
    from aigw.embedding import BUNDLED_MODEL, load_embedder

    # The bundled model is loaded by path; its bare name would be taken for a hub id.
    return load_embedder(None if name in (None, BUNDLED_MODEL) else name)


def featurize(texts: Sequence[str], embedder: Any) -> np.ndarray:
    """Rows of [embedding | heuristic features | shape features], float64."""
    emb = np.asarray(embedder.embed([t[:EMBED_CHARS] for t in texts]), dtype=np.float64)
    nh = len(HEURISTIC_FEATURES)
    extra = np.empty((len(texts), nh + len(SHAPE_FEATURES)))
    for i, t in enumerate(texts):
        f = heuristic_features(t)
        for j, k in enumerate(HEURISTIC_FEATURES):
            extra[i, j] = f[k]
        ll = math.log1p(len(t)) / 8.0
        choices = 1.0 if len(_CHOICE_LINE.findall(t[:EMBED_CHARS])) >= 2 else 0.0
        extra[i, nh : nh + 4] = (ll, ll * ll, choices, (1.0 - choices) * ll)
    return np.hstack([emb, extra])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 12) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (deterministic: no sampling).
    Returns [weights..., bias]; the bias is not penalised."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = _sigmoid(xb @ w)
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1.0 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


class GainModel:
    """The two regressions; `gain_score(x)` is (P(strong ok) - P(cheap ok) + 1) / 2."""

    def __init__(self, w_strong: np.ndarray, w_weak: np.ndarray) -> None:
        self.w_strong = np.asarray(w_strong, dtype=np.float64)
        self.w_weak = np.asarray(w_weak, dtype=np.float64)

    @classmethod
    def fit(cls, x: np.ndarray, strong: np.ndarray, weak: np.ndarray, l2: float) -> GainModel:
        # Quality in [0, 1] (MT-Bench grades are scaled): "answered well" is >= 0.5.
        return cls(
            fit_logistic(x, (strong >= 0.5).astype(np.float64), l2),
            fit_logistic(x, (weak >= 0.5).astype(np.float64), l2),
        )

    def gain_score(self, x: np.ndarray) -> np.ndarray:
        ps = _sigmoid(x @ self.w_strong[:-1] + self.w_strong[-1])
        pw = _sigmoid(x @ self.w_weak[:-1] + self.w_weak[-1])
        return (ps - pw + 1.0) / 2.0


class LearnedScorer:
    """Scores prompts with a trained `GainModel` loaded from a router file."""

    name = "learned"

    def __init__(self, path: str | Path | None = None, embedder: Any = None) -> None:
        self.path = Path(path) if path else DEFAULT_MODEL_FILE
        try:
            meta = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            raise ValueError(f"cannot load router model {self.path}: {e}") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not an {FORMAT} file")
        self.meta = meta
        self.model = GainModel(np.array(meta["w_strong"]), np.array(meta["w_weak"]))
        self.default_threshold = float(meta["threshold"])
        self._embedder = embedder or _embedder(meta.get("embedding_model"))
        n_features = self._embedder.dim + len(HEURISTIC_FEATURES) + len(SHAPE_FEATURES)
        if n_features != len(self.model.w_strong) - 1:
            raise ValueError(f"{self.path}: weights do not match the embedding model")

    def score(self, text: str) -> float:
        return float(self.model.gain_score(featurize([text], self._embedder))[0])

    def score_many(self, texts: Sequence[str]) -> list[float]:
        return [float(s) for s in self.model.gain_score(featurize(texts, self._embedder))]


def save_model(path: str | Path, model: GainModel, threshold: float, info: dict[str, Any]) -> None:
    meta = {
        "format": FORMAT,
        "features": ["embedding", *HEURISTIC_FEATURES, *SHAPE_FEATURES],
        "threshold": round(float(threshold), 6),
        **info,
        # float32 precision is plenty and keeps the file small.
        "w_strong": [float(np.float32(v)) for v in model.w_strong],
        "w_weak": [float(np.float32(v)) for v in model.w_weak],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
