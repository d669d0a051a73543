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
SCAN_CHARS = 4000

# One pass of a simple word regex, then set look-ups: much cheaper than one alternation
# regex per cue (which costs ~0.3 us per character in Python's re).
_WORD = re.compile(r"[a-z][a-z+#]*")


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

# Words that are rare in prose (not "from", "class", "return", which are common there).
_CODE_KEYWORDS = _words(
    "def lambda const var void async await printf println elif struct impl fn nullptr"
)
_CODE_WORDS = _words(
    "code program function algorithm implement debug bug compile regex python javascript "
    "typescript java c++ rust golang sql api recursion complexity"
)
_CODE_MARKS = ("=>", "->", "==", "!=", "++", "();", "){", "console.log", "#include")
_MATH_WORDS = _words(
    "calculate compute solve equation total percent percentage ratio probability integral "
    "derivative sum product average remainder prime matrix theorem proof prove each per twice "
    "half times"
)
_MATH_PHRASES = ("how many", "how much")
_MATH_SYMBOLS = ("=", "+", "*", "/", "^", "√", "∑", "∫", "≤", "≥", "≠", "π", "%", "$", "\\frac")
_REASONING_WORDS = _words(
    "why explain reason justify analyze analyse compare contrast evaluate critique implication "
    "implications consequence consequences tradeoff tradeoffs argue infer deduce "
    "therefore assume suppose hypothesis hypotheses scenario morally ethical legal valid invalid "
    "entail imply implies except"
)
_REASONING_PHRASES = (
    "step by step",
    "which of the following",
    "most likely",
    "least likely",
    "best describes",
    "not true",
)
_CONSTRAINT_WORDS = _words(
    "must should exactly only without ensure format json table bullet word words sentence "
    "sentences paragraph paragraphs"
)
_CONSTRAINT_PHRASES = ("at least", "at most", "no more than")


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
    low = head.lower()
    words = _WORD.findall(low)
    n_words = max(1, len(words))
    tokens = len(text) / 4  # a rough token count is enough here
    code_kw = code_words = maths = reasoning = constraints = 0
    for w in words:
        if w in _CODE_KEYWORDS:
            code_kw += 1
        if w in _CODE_WORDS:
            code_words += 1
        if w in _MATH_WORDS:
            maths += 1
        if w in _REASONING_WORDS:
            reasoning += 1
        if w in _CONSTRAINT_WORDS:
            constraints += 1
    code_marks = sum(head.count(m) for m in _CODE_MARKS) + sum(
        1 for line in head.splitlines() if line.rstrip().endswith(("{", "}", ";"))
    )
    maths += sum(low.count(p) for p in _MATH_PHRASES)
    reasoning += sum(low.count(p) for p in _REASONING_PHRASES)
    constraints += sum(low.count(p) for p in _CONSTRAINT_PHRASES)
    return {
        # ~150 tokens is the midpoint: a paragraph of context or a worked problem.
        "length": _saturate(tokens, 150.0),
        "code": min(
            1.0,
            0.6 * ("```" in head or "~~~" in head)
            + _saturate(code_marks + 0.5 * code_kw, 4.0)
            + 0.3 * _saturate(code_words, 2.0),
        ),
        "math": min(
            1.0,
            0.5 * _saturate(len(_NUMBER.findall(head)), 4.0)
            + 0.3 * _saturate(sum(head.count(c) for c in _MATH_SYMBOLS), 3.0)
            + 0.4 * _saturate(maths, 3.0),
        ),
        "reasoning": _saturate(reasoning, 2.0),
        # Density of instructions: constraint words per 100 words.
        "constraints": _saturate(100.0 * constraints / n_words, 5.0),
        "questions": _saturate(max(0, head.count("?") - 1), 2.0),
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
