"""Arena ratings: Bradley-Terry MLE on the Elo scale, checked against an independent computation."""
from __future__ import annotations

import numpy as np
import pytest

from recipes.preferences.ratings import Battles, fit_bradley_terry, rank, simulate

STRENGTHS = {"exp_2_111": 1150.0, "exp_2_101": 1080.0, "exp_1_111": 1000.0, "exp_0_111": 940.0, "base": 830.0}


def test_fit_recovers_the_true_order_from_known_strengths():
    battles = Battles.from_records(simulate(STRENGTHS, 6000, seed=1))
    ranking = rank(battles, bootstrap_rounds=200, seed=2)
    order = [row["model"] for row in ranking.table()]
    assert order == sorted(STRENGTHS, key=STRENGTHS.get, reverse=True)
    assert ranking.ratings.mean() == pytest.approx(1000.0)
    true = np.array([STRENGTHS[m] for m in battles.models])
    assert np.abs((ranking.ratings - ranking.ratings.mean()) - (true - true.mean())).max() < 40
    assert np.all(ranking.ci_low <= ranking.ratings) and np.all(ranking.ratings <= ranking.ci_high)
    assert ranking.battles.sum() == 2 * 6000 and np.allclose(ranking.win_rate + ranking.win_rate.T,
                                                               np.where(ranking.battles > 0, 1.0, np.nan),
                                                               equal_nan=True)


def test_matches_logistic_regression_on_the_same_design_matrix():
    """The reference arena's formulation: one row per battle (ties twice, weight 1/2 each way), features
    +log(10) for model_a and -log(10) for model_b, no intercept, no penalty; Elo = 400 * coef + 1000."""
    from sklearn.linear_model import LogisticRegression

    records = simulate(STRENGTHS, 3000, seed=3, tie_rate=0.2)
    battles = Battles.from_records(records)
    n, k = len(battles.models), np.log(10)
    X, y, weight = [], [], []
    for a, b, o in zip(battles.a, battles.b, battles.outcome):
        row = np.zeros(n)
        row[a], row[b] = k, -k
        if o in (0, 1):
            X.append(row), y.append(1 if o == 0 else 0), weight.append(1.0)
        else:
            X += [row, row]
            y += [1, 0]
            weight += [0.5, 0.5]
    # newton-cg: the design matrix is rank-deficient (ratings are defined up to a shift), which makes
    # newton-cholesky (scikit-learn >= 1.9) fall back to lbfgs and stop about 1e-5 from the optimum
    lr = LogisticRegression(fit_intercept=False, C=np.inf, solver="newton-cg", tol=1e-12, max_iter=1000)
    lr.fit(np.array(X), np.array(y), sample_weight=np.array(weight))
    coef = lr.coef_[0] - lr.coef_[0].mean()
    expected = 1000 + 400 * coef
    ours = fit_bradley_terry(battles.pair_wins())
    assert np.max(np.abs(ours - expected)) < 1e-6


def test_ties_count_half_a_win_each():
    records = [{"model_a": "a", "model_b": "b", "winner": w} for w in ("model_a", "tie", "tie (bothbad)", "model_b")]
    W = Battles.from_records(records).pair_wins()
    assert W.tolist() == [[0.0, 2.0], [2.0, 0.0]]
    assert np.allclose(fit_bradley_terry(W), [1000.0, 1000.0])
    with pytest.raises(ValueError, match="unknown winner"):
        Battles.from_records([{"model_a": "a", "model_b": "b", "winner": "both"}])


def _sklearn_ratings(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n: int) -> np.ndarray:
    """Bradley-Terry by logistic regression on one row per battle (ties: half a win each way)."""
    from sklearn.linear_model import LogisticRegression

    rows = np.zeros((len(a), n))
    rows[np.arange(len(a)), a], rows[np.arange(len(a)), b] = np.log(10), -np.log(10)
    decided = outcome < 2
    X = np.vstack([rows[decided], rows[~decided], rows[~decided]])
    y = np.concatenate([(outcome[decided] == 0).astype(int), np.ones((~decided).sum()), np.zeros((~decided).sum())])
    w = np.concatenate([np.ones(decided.sum()), np.full(2 * (~decided).sum(), 0.5)])
    lr = LogisticRegression(fit_intercept=False, C=np.inf, solver="newton-cg", tol=1e-10, max_iter=1000)
    coef = lr.fit(X, y, sample_weight=w).coef_[0]
    return 1000 + 400 * (coef - coef.mean())


def test_bootstrap_intervals_match_a_direct_resampling_of_the_battles():
    """The intervals come from resampled battles: compared with percentiles of an independent bootstrap (battles
    drawn with replacement, each sample fitted by scikit-learn); a bootstrap that does not resample gives
    zero-width intervals and fails here."""
    rounds = 300
    battles = Battles.from_records(simulate(STRENGTHS, 500, seed=5, tie_rate=0.2))
    ranking = rank(battles, bootstrap_rounds=rounds, seed=6)
    rng = np.random.default_rng(7)
    n, m = len(battles.models), len(battles.a)
    samples = np.array([_sklearn_ratings(battles.a[i], battles.b[i], battles.outcome[i], n)
                        for i in (rng.integers(0, m, m) for _ in range(rounds))])
    low, high = np.quantile(samples, [0.025, 0.975], axis=0)
    width = high - low
    ours = ranking.ci_high - ranking.ci_low
    assert np.all(width > 20) and np.all(ours > 0)
    assert np.all(ranking.ci_low < ranking.ratings) and np.all(ranking.ratings < ranking.ci_high)
    assert np.all(np.abs(ours / width - 1) < 0.3), (ours, width)
    assert np.all(np.abs(ranking.ci_low - low) < 0.3 * width) and np.all(np.abs(ranking.ci_high - high) < 0.3 * width)
