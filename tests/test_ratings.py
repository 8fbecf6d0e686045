"""Arena ratings: Bradley-Terry MLE on the Elo scale, checked against an independent computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from recipes.preferences.ratings import Battles, fit_bradley_terry, rank, rank_dimension, simulate

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


def _votes(*pairs: tuple[str, str, str, int]) -> list[dict]:
    """Battle records: (model_a, model_b, winner, how many times)."""
    return [{"model_a": a, "model_b": b, "winner": w} for a, b, w, times in pairs for _ in range(times)]


def test_two_models_have_the_closed_form_rating_difference():
    """With two models the Bradley-Terry MLE is known by hand: R_a - R_b = 400 * log10(wins_a / wins_b),
    centred on 1000. A lopsided 99:1 record needs the true Newton step (a wrong Hessian stops far off)."""
    for wins_a, wins_b, ties in ((99, 1, 0), (3, 1, 2), (1, 4, 0)):
        battles = Battles.from_records(_votes(("a", "b", "model_a", wins_a), ("b", "a", "model_a", wins_b),
                                              ("a", "b", "tie", ties)))
        diff = 400 * np.log10((wins_a + ties / 2) / (wins_b + ties / 2))
        ranking = rank(battles)  # the default scale (400), base (10) and centre (1000)
        assert np.allclose(ranking.ratings, [1000 + diff / 2, 1000 - diff / 2], rtol=0, atol=1e-6)
        assert ranking.ci_low is None and ranking.ci_high is None  # no bootstrap unless asked for


def test_table_rows_are_ranked_rounded_and_count_battles():
    """A chain a-b-c (no a-c battles): the MLE sets each edge's difference to its own closed form,
    400*log10(3) on both edges here, so the ratings are 1000 +- 190.848... around b."""
    battles = Battles.from_records(_votes(("a", "b", "model_a", 3), ("a", "b", "model_b", 1),
                                          ("c", "b", "model_b", 1), ("b", "c", "tie", 1)))
    ranking = rank(battles)
    assert ranking.table() == [
        {"rank": 1, "model": "a", "rating": 1190.85, "battles": 4},   # 1000 + 190.8485...
        {"rank": 2, "model": "b", "rating": 1000.0, "battles": 6},
        {"rank": 3, "model": "c", "rating": 809.15, "battles": 2},    # 1000 - 190.8485...
    ]
    nan = np.nan
    assert np.allclose(ranking.win_rate, [[nan, 0.75, nan], [0.25, nan, 0.75], [nan, 0.25, nan]], equal_nan=True)
    # a pair that met once still has a win rate (a tie: one half)
    once = rank(Battles.from_records(_votes(("a", "b", "tie", 1))))
    assert np.allclose(once.win_rate, [[nan, 0.5], [0.5, nan]], equal_nan=True)
    assert once.battles.tolist() == [[0, 1], [1, 0]]


def _binomial_quantile(m: int, p: float, q: float) -> int:
    """Smallest k with P(Binomial(m, p) <= k) >= q, summed exactly from the probability mass function."""
    total, logp, logq = 0.0, np.log(p), np.log1p(-p)
    for k in range(m + 1):
        total += np.exp(math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) + k * logp + (m - k) * logq)
        if total >= q:
            return k
    return m


def test_bootstrap_interval_is_the_exact_binomial_percentile_interval():
    """Two models, 2800 wins of a in 4000 battles: a resampled battle set has K ~ Binomial(4000, 0.7) wins of a,
    and its rating is 1000 + 200*log10(K / (4000 - K)). The 95% interval is therefore the rating at the exact
    2.5% and 97.5% binomial quantiles, up to the bootstrap's own noise (about 0.7 wins with 12,000 rounds); a
    90% or 96.7% interval (a wrong alpha) lies 5 or more wins away."""
    m, k = 4000, 2800
    battles = Battles.from_records(_votes(("a", "b", "model_a", k), ("b", "a", "model_a", m - k)))
    ranking = rank(battles, bootstrap_rounds=12_000, seed=11)

    def rating_a(wins: float) -> float:
        return 1000 + 200 * np.log10(wins / (m - wins))

    low, high = _binomial_quantile(m, k / m, 0.025), _binomial_quantile(m, k / m, 0.975)
    tolerance = rating_a(k + 2.5) - rating_a(k)  # 2.5 wins: 3.5 times the bootstrap's quantile noise
    assert abs(ranking.ci_low[0] - rating_a(low)) < tolerance, (ranking.ci_low, rating_a(low))
    assert abs(ranking.ci_high[0] - rating_a(high)) < tolerance, (ranking.ci_high, rating_a(high))
    # b's rating mirrors a's around 1000
    assert np.allclose(ranking.ci_low[1], 2000 - ranking.ci_high[0]) and np.allclose(ranking.ci_high[1],
                                                                                      2000 - ranking.ci_low[0])
    rows = {row["model"]: row for row in ranking.table()}
    for i, model in enumerate(battles.models):
        for key, values in (("ci_low", ranking.ci_low), ("ci_high", ranking.ci_high)):
            assert abs(rows[model][key] - values[i]) <= 0.005 and rows[model][key] == round(rows[model][key], 2)


def test_default_seed_is_zero_and_reproducible():
    """The Space's leaderboard calls rank_dimension without a seed: its intervals are those of seed 0."""
    votes = _votes(("a", "b", "model_a", 30), ("b", "a", "model_a", 20), ("a", "b", "tie", 10))
    battles = Battles.from_records(votes)
    default, zero = rank(battles, bootstrap_rounds=50), rank(battles, bootstrap_rounds=50, seed=0)
    assert np.array_equal(default.ci_low, zero.ci_low) and np.array_equal(default.ci_high, zero.ci_high)
    assert not np.array_equal(default.ci_low, rank(battles, bootstrap_rounds=50, seed=1).ci_low)
    by_dimension = rank_dimension(votes, "overall", bootstrap_rounds=50)
    assert np.array_equal(by_dimension.ci_low, zero.ci_low) and np.array_equal(by_dimension.ci_high, zero.ci_high)
    assert simulate(STRENGTHS, 50) == simulate(STRENGTHS, 50, seed=0)


def test_rank_dimension_ranks_only_the_votes_that_judged_it():
    votes = _votes(("a", "b", "model_a", 3), ("b", "a", "model_a", 1), ("a", "b", "model_b", 1))
    # content judged on three votes only: a won once, b once, one tie -> a dead heat
    votes[0]["winner_content"], votes[3]["winner_content"], votes[4]["winner_content"] = "model_a", "model_a", "tie"
    overall = rank_dimension(votes, "overall")
    assert overall.ci_low is None  # no bootstrap unless asked for
    # overall: a won 3 times, b twice (once as model_a, once as model_b)
    assert np.allclose(overall.ratings, [1000 + 200 * np.log10(3 / 2), 1000 - 200 * np.log10(3 / 2)])
    content = rank_dimension(votes, "content")
    assert content.models == ["a", "b"] and content.battles.tolist() == [[0, 3], [3, 0]]
    assert np.allclose(content.ratings, [1000.0, 1000.0])
    assert rank_dimension(votes, "language") is None  # nobody judged the language


def test_simulate_draws_ties_and_wins_with_the_elo_probabilities():
    """simulate's battles follow its documented model: a tie with probability 0.1 (by default), split evenly
    between "tie" and "tie (bothbad)", otherwise a 400-point favourite wins with probability 1/(1 + 10**-1) =
    0.90909. Bounds are 4.5 standard errors of each frequency (50,000 battles)."""
    n = 50_000
    records = simulate({"strong": 1400.0, "weak": 1000.0}, n, seed=4)
    winners = [r["winner"] for r in records]
    ties = sum(w.startswith("tie") for w in winners)
    assert abs(ties / n - 0.1) < 4.5 * np.sqrt(0.1 * 0.9 / n)
    assert abs(winners.count("tie") / ties - 0.5) < 4.5 * np.sqrt(0.25 / ties)
    p = 1 / (1 + 10 ** (-400 / 400))
    # the favourite's chance, over all decided battles and whichever side it was drawn on
    for sides in (("model_a", "model_b"), ("model_a",), ("model_b",)):
        decided = [r for r in records if not r["winner"].startswith("tie") and any(r[s] == "strong" for s in sides)]
        strong_won = sum(r[r["winner"]] == "strong" for r in decided)
        assert abs(strong_won / len(decided) - p) < 4.5 * np.sqrt(p * (1 - p) / len(decided)), sides
    assert {r["model_a"] for r in records} == {"strong", "weak"} and all(r["model_a"] != r["model_b"] for r in records)
    # the defaults are the reference arena's (module docstring): a scale off by 1 flips about 20 of these battles
    assert records == simulate({"strong": 1400.0, "weak": 1000.0}, n, seed=4, tie_rate=0.1, scale=400.0, base=10.0)
