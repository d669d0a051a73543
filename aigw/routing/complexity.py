"""A transparent complexity scorer: a few named features of the prompt -> a score in [0, 1].

The score estimates how likely the cheap model is NOT good enough for the prompt. Every
feature is a plain measurement (length, code, math, reasoning cues, constraints) squashed
into [0, 1]; the score is a logistic function of their weighted sum, so `explain()` can say
exactly how much each feature pushed the decision. No data, no model file: the weights are
set by hand (see docs/ROUTING.md for how this scorer compares with the learned one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Only the head of very long prompts is scanned for cues: the cost of scoring stays bounded
# (the length feature still sees the whole text).
SCAN_CHARS = 6000

_CODE_FENCE = re.compile(r"```|~~~")
_CODE_TOKENS = re.compile(
    r"\b(?:def|class|return|import|function|const|let|var|public|static|void|lambda|async|await"
    r"|SELECT|FROM|WHERE|INSERT|#include|printf|println|console\.log)\b|[{};]\s*$|=>|->|==|!=|\+\+",
    re.M,
)
_CODE_WORDS = re.compile(
    r"\b(?:code|program|function|algorithm|implement|debug|bug|compile|regex|python|javascript"
    r"|typescript|java|c\+\+|rust|golang|sql|api|class|recursion|complexity)\b",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MATH_SYMBOLS = re.compile(r"[=+*/^√∑∫≤≥≠π%$]|\\frac|\\sqrt|\\int|\\sum")
_MATH_WORDS = re.compile(
    r"\b(?:calculate|compute|solve|equation|how many|how much|total|percent|percentage|ratio"
    r"|probability|integral|derivative|sum|product|average|remainder|prime|matrix|theorem"
    r"|proof|prove|each|per|twice|half|times)\b",
    re.I,
)
_REASONING = re.compile(
    r"\b(?:why|explain|reason|justify|analy[sz]e|compare|contrast|evaluate|critique|step by step"
    r"|implications?|consequences?|trade-?offs?|argue|infer|deduce|therefore|assume|suppose"
    r"|hypothes[ie]s|scenario|morally|ethical|legal|valid|invalid|entail|imply|implies"
    r"|which of the following|most likely|least likely|best describes|except|not true)\b",
    re.I,
)
_CONSTRAINTS = re.compile(
    r"\b(?:must|should|exactly|at least|at most|no more than|without|only|ensure|format"
    r"|json|table|bullet|words?|sentences?|paragraphs?)\b",
    re.I,
)
_QUESTION = re.compile(r"\?")


@dataclass(frozen=True, slots=True)
class Explanation:
    score: float
    features: dict[str, float]  # each in [0, 1]
    contributions: dict[str, float]  # weight * feature, in logits


# Hand-set weights (logits per unit of feature) and the bias: a short chatty prompt with no
# cue scores ~0.15, a long multi-step maths or code task ~0.9.
WEIGHTS: dict[str, float] = {
    "length": 1.6,
    "code": 1.4,
    "math": 1.5,
    "reasoning": 1.4,
    "constraints": 0.6,
    "questions": 0.5,
}
BIAS = -2.2


def _saturate(x: float, half: float) -> float:
    """x / (x + half): 0 at 0, 0.5 at `half`, -> 1."""
    return x / (x + half) if x > 0 else 0.0


def features(text: str) -> dict[str, float]:
    head = text[:SCAN_CHARS]
    n_words = max(1, head.count(" ") + 1)
    tokens = len(text) / 4  # a rough token count is enough here
    numbers = len(_NUMBER.findall(head))
    return {
        # ~150 tokens is the midpoint: a paragraph of context or a worked problem.
        "length": _saturate(tokens, 150.0),
        "code": min(
            1.0,
            0.6 * bool(_CODE_FENCE.search(head))
            + _saturate(len(_CODE_TOKENS.findall(head)), 4.0)
            + 0.3 * _saturate(len(_CODE_WORDS.findall(head)), 2.0),
        ),
        "math": min(
            1.0,
            0.5 * _saturate(numbers, 4.0)
            + 0.3 * _saturate(len(_MATH_SYMBOLS.findall(head)), 3.0)
            + 0.4 * _saturate(len(_MATH_WORDS.findall(head)), 3.0),
        ),
        "reasoning": _saturate(len(_REASONING.findall(head)), 2.0),
        # Density of instructions: constraint words per 100 words.
        "constraints": _saturate(100.0 * len(_CONSTRAINTS.findall(head)) / n_words, 5.0),
        "questions": _saturate(max(0, len(_QUESTION.findall(head)) - 1), 2.0),
    }


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


class HeuristicScorer:
    """Scores a prompt from named features; `explain()` shows how each one counted."""

    name = "heuristic"
    default_threshold = 0.5

    def __init__(self, weights: dict[str, float] | None = None, bias: float = BIAS) -> None:
        self.weights = dict(WEIGHTS if weights is None else weights)
        self.bias = bias

    def explain(self, text: str) -> Explanation:
        f = features(text)
        contrib = {k: self.weights.get(k, 0.0) * v for k, v in f.items()}
        return Explanation(_sigmoid(self.bias + sum(contrib.values())), f, contrib)

    def score(self, text: str) -> float:
        f = features(text)
        return _sigmoid(self.bias + sum(self.weights.get(k, 0.0) * v for k, v in f.items()))

    def score_many(self, texts: list[str]) -> list[float]:
        return [self.score(t) for t in texts]
