"""Train the learned cost router and write aigw/routing/data/router-v1.json.

    .venv/bin/python scripts/train_router.py [--data FILE] [--out FILE] [--l2 10] [--folds 5]

Deterministic (no sampling: Newton's method from zero weights, folds from a hash of the
prompt), a few seconds on two cores. The default threshold stored in the file is the one
that reaches 95% of the strong model's quality on out-of-fold scores of the training file.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from aigw.embedding import load_embedder
from aigw.routing.evaluation import curve, folds, load_rows, threshold_for_quality
from aigw.routing.learned import DEFAULT_MODEL_FILE, GainModel, featurize, file_sha256, save_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing" / "prompts.dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(DEFAULT_MODEL_FILE))
    ap.add_argument("--l2", type=float, default=10.0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="salt of the fold hash")
    ap.add_argument("--target", type=float, default=0.95, help="quality share for the threshold")
    args = ap.parse_args()

    t0 = time.perf_counter()
    rows = load_rows(args.data)
    embedder = load_embedder()
    x = featurize(rows.prompts, embedder)
    fold = folds(rows.prompts, args.folds, args.seed)
    oof = np.zeros(len(rows))
    for k in range(args.folds):
        tr, te = fold != k, fold == k
        m = GainModel.fit(x[tr], rows.strong[tr], rows.weak[tr], args.l2)
        oof[te] = m.gain_score(x[te])
    threshold = threshold_for_quality(oof, rows.strong, rows.weak, args.target)
    c = curve(oof, rows.strong, rows.weak)
    share = float(np.mean(oof >= threshold))

    model = GainModel.fit(x, rows.strong, rows.weak, args.l2)
    info = {
        "embedding_model": embedder.name,
        "trained_on": {
            "file": Path(args.data).name,
            "sha256": file_sha256(args.data),
            "rows": len(rows),
        },
        "l2": args.l2,
        "cv": {
            "folds": args.folds,
            "seed": args.seed,
            "target": args.target,
            "strong_share_at_threshold": round(share, 4),
            "apgr": round(c.apgr(), 4),
        },
    }
    save_model(args.out, model, threshold, info)
    print(
        f"wrote {args.out}: {len(rows)} rows, threshold {threshold:.4f} "
        f"(out-of-fold: {share:.1%} strong calls for {args.target:.0%} of strong quality, "
        f"APGR {c.apgr():.3f}) in {time.perf_counter() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
