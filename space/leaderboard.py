"""The leaderboard tab's numbers and plots, from the stored votes.

Ratings are hubtool's Bradley-Terry fit (recipes/preferences/ratings.py, shipped beside the app as
hubtool_ratings.py), so the Space shows exactly what the preference dataset's card reports.
"""
from __future__ import annotations

import numpy as np

try:
    from recipes.preferences.ratings import DIMENSIONS, Ranking, rank_dimension  # noqa: F401
except ImportError:  # inside a deployed Space
    from hubtool_ratings import DIMENSIONS, Ranking, rank_dimension  # noqa: F401

# DIMENSIONS (from the ratings module) names the leaderboard's choices in app.py.
COLUMNS = ["rank", "model", "rating", "ci_low", "ci_high", "battles"]


def table(result: Ranking | None) -> list[list]:
    return [] if result is None else [[row.get(c) for c in COLUMNS] for row in result.table()]


def matrix_figure(result: Ranking | None, which: str):
    """A heatmap of the win-rate (row beats column) or battle-count matrix, models in rating order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    if result is None:
        ax.text(0.5, 0.5, "no votes yet", ha="center", va="center")
        ax.set_axis_off()
        return fig
    order = np.argsort(-result.ratings)
    names = [result.models[i] for i in order]
    data = (result.win_rate if which == "win_rate" else result.battles)[np.ix_(order, order)]
    image = ax.imshow(np.nan_to_num(data, nan=0.0), cmap="RdBu" if which == "win_rate" else "Blues",
                      vmin=0, vmax=1 if which == "win_rate" else None)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for (r, c), value in np.ndenumerate(data):
        if not np.isnan(value):
            ax.text(c, r, f"{value:.2f}" if which == "win_rate" else f"{int(value)}", ha="center", va="center",
                    fontsize=8)
    ax.set_title("Win rate (row beats column)" if which == "win_rate" else "Battles")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    plt.close(fig)
    return fig
