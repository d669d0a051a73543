"""Cost-quality evaluation of a router on a labelled file (used by scripts/eval_router.py and
scripts/train_router.py; never on the request path).

A row has the prompt and how well the strong and the weak model answered it (0/1 for exact
match; MT-Bench judge grades 1-10 are scaled to [0, 1]). A router's scores order the prompts:
sending the top share to the strong model and the rest to the cheap one gives one point of the
cost-quality curve per share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

# USD per 1M tokens (input; output has the same ratio): gpt-4o vs gpt-4o-mini.
DEFAULT_STRONG_PRICE = 2.50
DEFAULT_CHEAP_PRICE = 0.15


@dataclass(slots=True)
class Rows:
    prompts: list[str]
    tasks: list[str]
    strong: np.ndarray  # quality in [0, 1]
    weak: np.ndarray

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, idx: np.ndarray) -> Rows:
        return Rows(
            [self.prompts[i] for i in idx],
            [self.tasks[i] for i in idx],
            self.strong[idx],
            self.weak[idx],
        )

    def benchmark(self) -> np.ndarray:
        """gsm8k | mmlu | mt_bench per row."""
        return np.array([t.split("-", 1)[0] for t in self.tasks])


def load_rows(path: str | Path, tasks: str = "all") -> Rows:
    """tasks: "all", or a comma list of benchmarks (gsm8k, mmlu, mt_bench)."""
    keep = None if tasks == "all" else set(tasks.split(","))
    prompts: list[str] = []
    names: list[str] = []
    strong: list[float] = []
    weak: list[float] = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            r = orjson.loads(line)
            bench = r["task"].split("-", 1)[0]
            if keep is not None and bench not in keep:
                continue
            scale = 10.0 if r["metric"] == "gpt4_judge_score_1_10" else 1.0
            prompts.append(r["prompt"])
            names.append(r["task"])
            strong.append(float(r["strong_correct"]) / scale)
            weak.append(float(r["weak_correct"]) / scale)
    return Rows(prompts, names, np.array(strong), np.array(weak))


def folds(prompts: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """A fold number per row from a hash of the prompt, so duplicates share a fold."""
    salt = f"route-cv-{seed}:".encode()
    return np.array(
        [int(hashlib.sha256(salt + p.encode()).hexdigest()[:8], 16) % k for p in prompts]
    )


@dataclass(slots=True)
class Curve:
    share: np.ndarray  # share of prompts sent to the strong model, 0..1 (n+1 points)
    quality: np.ndarray  # mean quality at that share
    strong_quality: float
    weak_quality: float

    def at_share(self, s: float) -> float:
        return float(np.interp(s, self.share, self.quality))

    def min_share_for(self, quality: float) -> float:
        """The smallest share of strong calls whose quality reaches `quality` (1.0 if never)."""
        ok = np.nonzero(self.quality >= quality - 1e-12)[0]
        return float(self.share[ok[0]]) if len(ok) else 1.0

    def apgr(self) -> float:
        """Average performance gap recovered (RouteLLM): mean over the share of
        (quality - weak) / (strong - weak)."""
        gap = self.strong_quality - self.weak_quality
        if gap <= 0:
            return 0.0
        pgr = (self.quality - self.weak_quality) / gap
        return float(np.trapezoid(pgr, self.share))


def curve(scores: np.ndarray, strong: np.ndarray, weak: np.ndarray) -> Curve:
    """Send the highest-scoring prompts to the strong model first. Ties are broken by row
    order, which is fixed, so the curve is reproducible."""
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    quality = (weak.sum() + gain) / n
    return Curve(np.arange(n + 1) / n, quality, float(strong.mean()), float(weak.mean()))


def random_curve(strong: np.ndarray, weak: np.ndarray, points: int = 1001) -> Curve:
    """Random routing in expectation: quality is linear in the share."""
    s = np.linspace(0.0, 1.0, points)
    ws, ww = float(strong.mean()), float(weak.mean())
    return Curve(s, ww + s * (ws - ww), ws, ww)


def cost_saving(share: float, strong_price: float, cheap_price: float) -> float:
    """Saving against sending everything to the strong model (same tokens either way)."""
    return 1.0 - (share * strong_price + (1.0 - share) * cheap_price) / strong_price


def threshold_for_quality(
    scores: np.ndarray, strong: np.ndarray, weak: np.ndarray, target: float
) -> float:
    """The highest threshold (score >= threshold -> strong) whose quality reaches `target`
    times the strong model's on these rows."""
    c = curve(scores, strong, weak)
    k = round(c.min_share_for(target * c.strong_quality) * len(scores))
    if k == 0:
        return float("inf")
    order = np.sort(scores)[::-1]
    return float(order[k - 1])
