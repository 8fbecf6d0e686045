"""Benchmark: 1,000 bootstrap rounds of Bradley-Terry ratings on 100,000 battles among 20 models.

Baseline, measured in the same run: the reference arena's formulation, one scikit-learn logistic
regression per bootstrap round on the per-battle design matrix (timed on a few rounds and reported per
round). Writes benchmarks/results/ratings_bootstrap.json.

    .venv/bin/python benchmarks/ratings_bootstrap.py [--battles 100000] [--models 20] [--rounds 1000]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from recipes.preferences.ratings import Battles, rank, simulate

    ap = argparse.ArgumentParser()
    ap.add_argument("--battles", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--baseline-rounds", type=int, default=3)
    args = ap.parse_args()
    strengths = {f"model-{i:02d}": 1000 + 25 * (i - args.models / 2) for i in range(args.models)}
    battles = Battles.from_records(simulate(strengths, args.battles, seed=0))

    t0 = time.perf_counter()
    ranking = rank(battles, bootstrap_rounds=args.rounds, seed=1)
    ours = time.perf_counter() - t0

    n, k = len(battles.models), np.log(10)
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    for _ in range(args.baseline_rounds):
        idx = rng.integers(0, len(battles.a), len(battles.a))
        a, b, o = battles.a[idx], battles.b[idx], battles.outcome[idx]
        X = np.zeros((len(idx), n))
        X[np.arange(len(idx)), a], X[np.arange(len(idx)), b] = k, -k
        decided = o < 2
        Xs = np.concatenate([X[decided], X[~decided], X[~decided]])
        y = np.concatenate([(o[decided] == 0).astype(int), np.ones((~decided).sum()), np.zeros((~decided).sum())])
        w = np.concatenate([np.ones(decided.sum()), np.full((~decided).sum(), 0.5), np.full((~decided).sum(), 0.5)])
        LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-8, max_iter=1000).fit(Xs, y, sample_weight=w)
    baseline_per_round = (time.perf_counter() - t0) / args.baseline_rounds

    true_order = sorted(strengths, key=strengths.get, reverse=True)
    got_order = [r["model"] for r in ranking.table()]
    result = {
        "battles": args.battles, "models": args.models, "bootstrap_rounds": args.rounds,
        "hubtool_seconds_total": round(ours, 3), "hubtool_seconds_per_round": round(ours / args.rounds, 6),
        "baseline_sklearn_seconds_per_round": round(baseline_per_round, 4),
        "baseline_estimated_seconds_for_all_rounds": round(baseline_per_round * args.rounds, 1),
        "speedup_vs_baseline": round(baseline_per_round * args.rounds / ours, 1),
        "under_30s_target": ours < 30,
        "rank_correlation_with_true_order": float(np.corrcoef(
            [true_order.index(m) for m in got_order], range(len(got_order)))[0, 1]),
    }
    out = ROOT / "benchmarks" / "results" / "ratings_bootstrap.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
