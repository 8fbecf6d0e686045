"""The leaderboard tab's tables, from the stored votes, behind a short cache.

Ratings are hubtool's Bradley-Terry fit (recipes/preferences/ratings.py, shipped beside the app as
hubtool_ratings.py), so the Space shows exactly what the preference dataset's card reports. Three
dimensions (overall, content, language); win-rate and battle-count matrices as tables whose diagonal
(a model against itself) and never-met pairs are blank; contributors: votes per pseudonymous user.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd

try:
    from recipes.preferences.ratings import DIMENSIONS, Ranking, rank_dimension
except ImportError:  # inside a deployed Space
    from hubtool_ratings import DIMENSIONS, Ranking, rank_dimension

COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "battles"]
CONTRIBUTOR_COLUMNS = ["rank", "user (pseudonym)", "votes"]


def table(result: Ranking | None) -> pd.DataFrame:
    rows = [] if result is None else [[row.get(c) for c in COLUMNS] for row in result.table()]
    return pd.DataFrame(rows, columns=COLUMNS)


def matrix(result: Ranking | None, which: str) -> pd.DataFrame:
    """Row model against column model, models in rating order; blank where there is nothing to show."""
    if result is None:
        return pd.DataFrame([], columns=["model"])
    order = np.argsort(-result.ratings)
    names = [result.models[i] for i in order]
    data = (result.win_rate if which == "win_rate" else result.battles)[np.ix_(order, order)]
    count = result.battles[np.ix_(order, order)]
    rows = []
    for r, name in enumerate(names):
        cells = []
        for c in range(len(names)):
            if r == c or count[r, c] == 0:
                cells.append("")
            else:
                cells.append(f"{data[r, c]:.2f}" if which == "win_rate" else str(int(data[r, c])))
        rows.append([name, *cells])
    return pd.DataFrame(rows, columns=["model", *names])


def contributors(pairs: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame([[i, user, n] for i, (user, n) in enumerate(pairs, 1)], columns=CONTRIBUTOR_COLUMNS)


class Leaderboard:
    """Tables per dimension: recomputed when votes were added, at most every ``ttl_s`` seconds (the bootstrap
    is the costly part), one computation at a time."""

    def __init__(self, store, bootstrap_rounds: int, ttl_s: float, clock=time.monotonic):
        self.store, self.bootstrap_rounds, self.ttl_s, self.clock = store, bootstrap_rounds, ttl_s, clock
        self._cache: dict[str, tuple[float, int, tuple]] = {}
        self._lock = threading.Lock()

    def get(self, dimension: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(ratings, win rates, battle counts, contributors) of ``dimension``."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; one of {', '.join(DIMENSIONS)}")
        with self._lock:
            hit = self._cache.get(dimension)
            if hit and (self.clock() - hit[0] < self.ttl_s or hit[1] == self.store.count()):
                return hit[2]
            count = self.store.count()
            result = rank_dimension(self.store.rows(), dimension, self.bootstrap_rounds)
            tables = (table(result), matrix(result, "win_rate"), matrix(result, "battles"),
                      contributors(self.store.contributors()))
            self._cache[dimension] = (self.clock(), count, tables)
            return tables
