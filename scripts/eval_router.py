"""Cost-quality evaluation of the cost routers on a labelled file, cross-validated.

    .venv/bin/python scripts/eval_router.py [--data FILE] [--folds 5] [--tasks all]
        [--strong-price 2.50 --cheap-price 0.15] [--target 0.95] [--model FILE]

For each router (learned, heuristic) and baseline (prompt length only, random) it prints the
curve "share of strong-model calls -> quality" and, at `--target` (95%) of the strong model's
quality, the share of strong calls needed, the calls and the cost saved against sending
everything to the strong model, and APGR (RouteLLM's average performance gap recovered).

The learned router is retrained on k-1 folds and scored on the held-out fold (folds by a hash
of the prompt, so duplicated prompts never straddle train and test); the curve is drawn from
the pooled out-of-fold scores. `--model FILE` instead scores every row with a saved model
(use it on a file the model was not trained on). "threshold transfer" picks the threshold on
the training folds and reports what it gives on the held-out fold, as a deployment would.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aigw.routing.complexity import HeuristicScorer
from aigw.routing.evaluation import (
    DEFAULT_CHEAP_PRICE,
    DEFAULT_STRONG_PRICE,
    Curve,
    Rows,
    cost_saving,
    curve,
    folds,
    load_rows,
    random_curve,
    threshold_for_quality,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing" / "prompts.dev.jsonl"
SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# A method maps (training rows' indices, test rows' indices) to (train scores, test scores).
Method = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def fixed(scores: np.ndarray) -> Method:
    """A scorer that needs no training."""
    return lambda tr, te: (scores[tr], scores[te])


def learned_cv(rows: Rows, fold: np.ndarray, l2: float) -> Method:
    from aigw.embedding import load_embedder
    from aigw.routing.learned import GainModel, featurize

    x = featurize(rows.prompts, load_embedder())

    def fit(idx: np.ndarray) -> GainModel:
        return GainModel.fit(x[idx], rows.strong[idx], rows.weak[idx], l2)

    def run(tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Training scores are out-of-fold within the training folds (as train_router.py
        # does to pick the shipped threshold): in-sample scores would be overconfident.
        inner = fold[tr]
        s_tr = np.zeros(len(tr))
        for f in np.unique(inner):
            s_tr[inner == f] = fit(tr[inner != f]).gain_score(x[tr[inner == f]])
        return s_tr, fit(tr).gain_score(x[te])

    return run


def cross_validate(rows: Rows, method: Method, fold: np.ndarray, target: float) -> dict:
    k = int(fold.max()) + 1
    oof = np.zeros(len(rows))
    shares, ratios = [], []
    for f in range(k):
        tr, te = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        s_tr, s_te = method(tr, te)
        oof[te] = s_te
        thr = threshold_for_quality(s_tr, rows.strong[tr], rows.weak[tr], target)
        to_strong = s_te >= thr
        q = np.where(to_strong, rows.strong[te], rows.weak[te]).mean()
        shares.append(float(to_strong.mean()))
        ratios.append(float(q / rows.strong[te].mean()))
    return {"oof": oof, "transfer_share": np.mean(shares), "transfer_ratio": np.mean(ratios)}


def summary(c: Curve, target: float, sp: float, cp: float) -> dict[str, float]:
    share = c.min_share_for(target * c.strong_quality)
    return {
        "share": share,
        "calls_saved": 1.0 - share,
        "cost_saved": cost_saving(share, sp, cp),
        "apgr": c.apgr(),
    }


def latency(rows: Rows, n: int, model: str | None) -> None:
    from aigw.routing.cost_router import MAX_SCORED_CHARS
    from aigw.routing.learned import LearnedScorer

    prompts = [p[:MAX_SCORED_CHARS] for p in rows.prompts[:: max(1, len(rows) // n)][:n]]
    for scorer in (LearnedScorer(model), HeuristicScorer()):
        for p in prompts[:50]:  # warm-up
            scorer.score(p)
        wall, cpu = [], []
        for p in prompts:
            t, c = time.perf_counter(), time.thread_time()
            scorer.score(p)
            cpu.append((time.thread_time() - c) * 1e6)
            wall.append((time.perf_counter() - t) * 1e6)
        w, c = np.percentile(wall, [50, 99]), np.percentile(cpu, [50, 99])
        # CPU time is what scoring costs; wall time adds whatever else ran on the machine.
        print(
            f"  {scorer.name:10s} cpu p50 {c[0]:5.0f} us  p99 {c[1]:5.0f} us  "
            f"mean {np.mean(cpu):5.0f} us   | wall p50 {w[0]:5.0f} us  p99 {w[1]:5.0f} us"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--tasks", default="all", help="all, or a comma list: gsm8k,mmlu,mt_bench")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="salt of the fold hash")
    ap.add_argument("--l2", type=float, default=10.0)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--strong-price", type=float, default=DEFAULT_STRONG_PRICE)
    ap.add_argument("--cheap-price", type=float, default=DEFAULT_CHEAP_PRICE)
    ap.add_argument("--model", help="score with this saved router file instead of retraining")
    ap.add_argument(
        "--latency",
        type=int,
        default=0,
        metavar="N",
        help="also time scoring one prompt at a time, as the gateway does, on N prompts",
    )
    args = ap.parse_args()
    sp, cp = args.strong_price, args.cheap_price

    t0 = time.perf_counter()
    rows = load_rows(args.data, args.tasks)
    if len(rows) < 2 * args.folds:
        sys.exit(f"{args.data}: too few rows ({len(rows)}) for {args.folds} folds")
    fold = folds(rows.prompts, args.folds, args.seed)
    lengths = np.array([len(p) for p in rows.prompts], dtype=np.float64)
    heuristic = np.array(HeuristicScorer().score_many(rows.prompts))
    if args.model:
        from aigw.routing.learned import LearnedScorer

        learned: Method = fixed(np.array(LearnedScorer(args.model).score_many(rows.prompts)))
        learned_name = "learned (saved model)"
    else:
        learned = learned_cv(rows, fold, args.l2)
        learned_name = "learned (CV)"
    methods: dict[str, Method] = {
        learned_name: learned,
        "heuristic": fixed(heuristic),
        "length only": fixed(lengths),
    }
    results = {name: cross_validate(rows, m, fold, args.target) for name, m in methods.items()}
    curves: dict[str, Curve] = {
        name: curve(r["oof"], rows.strong, rows.weak) for name, r in results.items()
    }
    curves["random"] = random_curve(rows.strong, rows.weak)

    sq, wq = float(rows.strong.mean()), float(rows.weak.mean())
    print(f"data: {args.data} ({len(rows)} rows, tasks: {args.tasks}), {args.folds}-fold CV")
    print(
        f"strong quality {sq:.4f}, cheap quality {wq:.4f}; target {args.target:.0%} = "
        f"{args.target * sq:.4f}; prices strong {sp} / cheap {cp} per 1M tokens"
    )
    print()
    print("quality (as % of strong) by share of strong-model calls:")
    names = list(curves)
    print("  share  " + "".join(f"{n:>22s}" for n in names))
    for s in SHARES:
        cells = "".join(f"{100 * curves[n].at_share(s) / sq:21.1f}%" for n in names)
        print(f"  {s:5.0%}  {cells}")
    print()
    print(f"at {args.target:.0%} of strong quality:")
    print(
        f"  {'router':24s}{'strong calls':>14s}{'calls saved':>13s}{'cost saved':>12s}"
        f"{'APGR':>8s}{'transfer: strong calls / quality':>36s}"
    )
    for n in names:
        m = summary(curves[n], args.target, sp, cp)
        r = results.get(n)
        transfer = f"{r['transfer_share']:.1%} / {r['transfer_ratio']:.1%} of strong" if r else "-"
        print(
            f"  {n:24s}{m['share']:14.1%}{m['calls_saved']:13.1%}{m['cost_saved']:12.1%}"
            f"{m['apgr']:8.3f}{transfer:>36s}"
        )
    bench = rows.benchmark()
    groups = [b for b in ("gsm8k", "mmlu", "mt_bench") if (bench == b).any()]
    if len(groups) > 1:
        print()
        print(f"per benchmark (same out-of-fold scores), strong calls saved at {args.target:.0%}:")
        print(f"  {'router':24s}" + "".join(f"{b:>12s}" for b in groups))
        for n in names:
            cells = []
            for b in groups:
                m = bench == b
                c = (
                    random_curve(rows.strong[m], rows.weak[m])
                    if n == "random"
                    else curve(results[n]["oof"][m], rows.strong[m], rows.weak[m])
                )
                cells.append(f"{summary(c, args.target, sp, cp)['calls_saved']:12.1%}")
            print(f"  {n:24s}" + "".join(cells))
    if args.latency:
        print()
        print(f"scoring latency, one prompt at a time ({args.latency} prompts of this file):")
        latency(rows, args.latency, args.model)
    print(f"\n({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    main()
