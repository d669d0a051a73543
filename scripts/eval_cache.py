"""Evaluate the semantic cache's decision on labelled question pairs.

For each pair (a, b) the cache would serve a's answer to b when cosine(a, b) >= threshold
(and, with the guard, when the guard agrees). Per threshold this prints the hit rate on
true paraphrases (label 1) and the false-hit rate on non-paraphrases (label 0), with and
without the guard, and the smallest threshold whose false-hit rate is <= the target.

Usage (from the repository root):
    .venv/bin/python scripts/eval_cache.py ../shared/data/cache-eval/pairs.dev.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aigw.cache.guard import disagreement, features
from aigw.embedding import load_embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("pairs", nargs="?", default="../shared/data/cache-eval/pairs.dev.jsonl")
    ap.add_argument("--model", default=None, help="embedding model (default: the bundled one)")
    ap.add_argument("--max-false-hit", type=float, default=0.01)
    ap.add_argument("--from", dest="lo", type=float, default=0.80)
    ap.add_argument("--to", dest="hi", type=float, default=0.99)
    ap.add_argument("--step", type=float, default=0.01)
    args = ap.parse_args()

    rows = [orjson.loads(line) for line in Path(args.pairs).read_bytes().splitlines() if line]
    labels = np.array([int(r["label"]) for r in rows])
    emb = load_embedder(args.model)
    t0 = time.perf_counter()
    va = emb.embed([r["a"] for r in rows])
    vb = emb.embed([r["b"] for r in rows])
    embed_s = time.perf_counter() - t0
    cos = (va * vb).sum(axis=1)
    # A zero vector (nothing the model knows) is never served, whatever the threshold.
    nonzero = (np.abs(va).sum(axis=1) > 0) & (np.abs(vb).sum(axis=1) > 0)
    reasons = [disagreement(features(r["a"]), features(r["b"])) for r in rows]
    guard_ok = np.array([x is None for x in reasons])

    pos, neg = labels == 1, labels == 0
    print(
        f"{args.pairs}: {len(rows)} pairs ({pos.sum()} paraphrases, {neg.sum()} non-paraphrases); "
        f"embedded {2 * len(rows)} texts in {embed_s:.2f}s with {emb.name}"
    )
    print("guard refusals (all pairs):", dict(Counter(x for x in reasons if x)))
    print(
        f"{'threshold':>9} | {'hit (no guard)':>14} {'false (no guard)':>16} | "
        f"{'hit (guard)':>11} {'false (guard)':>13}"
    )
    best: dict[bool, tuple[float, float, float] | None] = {False: None, True: None}
    n = round((args.hi - args.lo) / args.step) + 1
    for i in range(n):
        t = round(args.lo + i * args.step, 4)
        served = (cos >= t) & nonzero
        served_g = served & guard_ok
        row = []
        for use_guard, s in ((False, served), (True, served_g)):
            hit, false = s[pos].mean(), s[neg].mean()
            row += [hit, false]
            if false <= args.max_false_hit and best[use_guard] is None:
                best[use_guard] = (t, hit, false)
        print(f"{t:>9.3f} | {row[0]:>14.1%} {row[1]:>16.2%} | {row[2]:>11.1%} {row[3]:>13.2%}")
    for use_guard in (False, True):
        b = best[use_guard]
        label = "with guard" if use_guard else "without guard"
        if b is None:
            print(f"{label}: no threshold in range keeps false hits <= {args.max_false_hit:.1%}")
        else:
            print(
                f"{label}: lowest threshold with false-hit rate <= {args.max_false_hit:.1%}: "
                f"{b[0]:.3f} -> hit rate {b[1]:.1%}, false-hit rate {b[2]:.2%}"
            )


if __name__ == "__main__":
    main()
