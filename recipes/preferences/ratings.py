"""Arena rankings: Bradley-Terry maximum likelihood on the Elo scale, with bootstrap confidence intervals.

P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / scale)), ratings centred on ``initial`` (the mean rating),
as the reference arena computed them (scale 400, base 10, 1000 initial). A tie counts as half a win
for each side; "tie (bothbad)" too. The fit runs Newton's method on the pair-count matrix, so its cost
does not grow with the number of battles: 1,000 bootstrap rounds of 100,000 battles take seconds
(benchmarks/ratings_bootstrap.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
# The arena's judgement dimensions and the vote field that holds each one's winner.
DIMENSIONS = {"overall": "winner", "content": "winner_content", "language": "winner_language"}


@dataclass
class Battles:
    """Battles as index arrays: model_a[i], model_b[i], outcome[i] (0 a wins, 1 b wins, 2 tie, 3 both bad)."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray

    @classmethod
    def from_records(cls, records: list[dict], winner_key: str = "winner") -> "Battles":
        models = sorted({r["model_a"] for r in records} | {r["model_b"] for r in records})
        index = {m: i for i, m in enumerate(models)}
        bad = [r[winner_key] for r in records if r[winner_key] not in WINNERS]
        if bad:
            raise ValueError(f"unknown winner value(s) {sorted(set(bad))}; expected one of {', '.join(WINNERS)}")
        return cls(models, np.array([index[r["model_a"]] for r in records], dtype=np.int64),
                   np.array([index[r["model_b"]] for r in records], dtype=np.int64),
                   np.array([WINNERS.index(r[winner_key]) for r in records], dtype=np.int64))

    def pair_wins(self, weights: np.ndarray | None = None) -> np.ndarray:
        """W[i, j] = wins of i over j (ties: half each), weighted by ``weights`` (bootstrap counts)."""
        n = len(self.models)
        w = np.ones(len(self.a)) if weights is None else weights
        win_a = np.where(self.outcome == 0, 1.0, np.where(self.outcome == 1, 0.0, 0.5)) * w
        W = np.zeros((n, n))
        np.add.at(W, (self.a, self.b), win_a)
        np.add.at(W, (self.b, self.a), w - win_a)
        return W


def fit_bradley_terry(W: np.ndarray, scale: float = 400.0, base: float = 10.0, initial: float = 1000.0,
                      tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
    """Elo-scale MLE ratings from a pairwise win matrix (Newton's method, ratings summing to n*initial)."""
    n = W.shape[0]
    N = W + W.T
    k = np.log(base)
    w = np.zeros(n)
    for _ in range(max_iter):
        d = k * (w[:, None] - w[None, :])
        p = 1.0 / (1.0 + np.exp(-d))
        grad = k * (W - N * p).sum(axis=1)
        h = k * k * N * p * (1 - p)
        H = np.diag(h.sum(axis=1)) - h
        # the likelihood is flat along the all-ones direction: solve in the sum-zero subspace
        step = np.linalg.lstsq(H + np.ones((n, n)) / n, grad, rcond=None)[0]
        step -= step.mean()
        w += step
        if np.max(np.abs(step)) < tol:
            break
    return initial + scale * (w - w.mean())


@dataclass
class Ranking:
    models: list[str]
    ratings: np.ndarray
    battles: np.ndarray  # N[i, j]: battles between i and j
    win_rate: np.ndarray  # W[i, j] / N[i, j], NaN where they never met
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None

    def table(self) -> list[dict]:
        order = np.argsort(-self.ratings)
        rows = []
        for rank, i in enumerate(order, 1):
            row = {"rank": rank, "model": self.models[i], "rating": round(float(self.ratings[i]), 2),
                   "battles": int(self.battles[i].sum())}
            if self.ci_low is not None:
                row["ci_low"], row["ci_high"] = round(float(self.ci_low[i]), 2), round(float(self.ci_high[i]), 2)
            rows.append(row)
        return rows


def rank(battles: Battles, bootstrap_rounds: int = 0, seed: int = 0, confidence: float = 0.95,
         scale: float = 400.0, base: float = 10.0, initial: float = 1000.0) -> Ranking:
    """Ratings, bootstrap percentile intervals (battles resampled with replacement), win-rate and count matrices."""
    W = battles.pair_wins()
    ratings = fit_bradley_terry(W, scale, base, initial)
    N = W + W.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(N > 0, W / N, np.nan)
    result = Ranking(battles.models, ratings, battles=N, win_rate=win_rate)
    if bootstrap_rounds:
        # Resampling battles with replacement = a multinomial draw over the distinct (a, b, outcome) cells:
        # the same distribution at a cost independent of the number of battles.
        n = len(battles.models)
        cell = (battles.a * n + battles.b) * len(WINNERS) + battles.outcome
        uniq, counts = np.unique(cell, return_counts=True)
        cells = Battles(battles.models, uniq // len(WINNERS) // n, uniq // len(WINNERS) % n, uniq % len(WINNERS))
        rng = np.random.default_rng(seed)
        m = len(battles.a)
        samples = np.empty((bootstrap_rounds, n))
        for r in range(bootstrap_rounds):
            draw = rng.multinomial(m, counts / m).astype(float)
            samples[r] = fit_bradley_terry(cells.pair_wins(draw), scale, base, initial)
        alpha = (1 - confidence) / 2
        result.ci_low, result.ci_high = np.quantile(samples, [alpha, 1 - alpha], axis=0)
    return result


def rank_dimension(votes: list[dict], dimension: str, bootstrap_rounds: int = 0, seed: int = 0) -> Ranking | None:
    """The ranking of one dimension from arena votes (those that judged it); None when none did."""
    key = DIMENSIONS[dimension]
    records = [v for v in votes if v.get(key)]
    if not records:
        return None
    return rank(Battles.from_records(records, key), bootstrap_rounds=bootstrap_rounds, seed=seed)


def simulate(strengths: dict[str, float], n: int, seed: int = 0, tie_rate: float = 0.1,
             scale: float = 400.0, base: float = 10.0) -> list[dict]:
    """Battles between random pairs drawn from known Elo strengths (for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    models = list(strengths)
    out = []
    for _ in range(n):
        a, b = rng.choice(len(models), 2, replace=False)
        ra, rb = strengths[models[a]], strengths[models[b]]
        if rng.random() < tie_rate:
            winner = "tie" if rng.random() < 0.5 else "tie (bothbad)"
        else:
            winner = "model_a" if rng.random() < 1 / (1 + base ** ((rb - ra) / scale)) else "model_b"
        out.append({"model_a": models[a], "model_b": models[b], "winner": winner})
    return out
