"""Pictures for cards, drawn from the artifact's data when the card is written.

Datasets: share of rows per language and per source, words per row by split. Models: the training
(and evaluation) loss from the trainer's log (``training_metrics.json``), evaluation scores next to the
base model's. Preferences: the arena's win-rate matrix and the ranking with its confidence intervals.

Each :class:`Picture` carries its PNG bytes and the table of every number it shows; the card prints
that table under the image. The same data gives byte-identical PNGs (matplotlib's Agg canvas, the
default style, no software/date metadata), so a re-release uploads nothing.
"""
from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PICTURES_DIR = "card_images"
_SIZE = (6.4, 3.6)
_DPI = 100


@dataclass
class Picture:
    name: str
    title: str
    alt: str
    png: bytes = b""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""

    @property
    def path(self) -> str:
        return f"{PICTURES_DIR}/{self.name}.png"


def _draw(draw: Callable[[Any], None], size: tuple[float, float] = _SIZE) -> bytes:
    """Render with a fresh Agg figure under matplotlib's default style; PNG without varying metadata."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(matplotlib.rcParamsDefault):
        fig = Figure(figsize=size, dpi=_DPI)
        FigureCanvasAgg(fig)
        draw(fig)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _barh(fig, labels: list[str], values: list[float], texts: list[str], xlabel: str) -> None:
    ax = fig.add_subplot()
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color="#4C72B0")
    ax.set_yticks(y, labels)
    for yi, v, t in zip(y, values, texts):
        ax.annotate(t, (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max(values) * 1.25 if values and max(values) > 0 else 1)
    ax.spines[["top", "right"]].set_visible(False)


# --- datasets -------------------------------------------------------------------------------------

def language_picture(share: dict[str, float], sample_note: str) -> Picture:
    labels = list(share)
    texts = [pct(v) for v in share.values()]
    listed = ", ".join(f"{k} {t}" for k, t in zip(labels, texts))
    pic = Picture("languages", "Languages", f"Bar chart: share of sampled rows per detected language ({listed})",
                  columns=["language", "share of sampled rows"],
        rows=[[k, t] for k, t in zip(labels, texts)], note=sample_note)
    pic.png = _draw(lambda fig: _barh(fig, labels, list(share.values()), texts, "share of sampled rows"))
    return pic


def source_picture(sources: dict[str, int]) -> Picture:
    total = sum(sources.values()) or 1
    items = sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))
    texts = [f"{n:,} ({pct(n / total)})" for _, n in items]
    pic = Picture("sources", "Sources", "Bar chart: rows per source (" + ", ".join(
        f"{k} {t}" for (k, _), t in zip(items, texts)) + ")", columns=["source", "rows", "share"],
        rows=[[k, f"{n:,}", pct(n / total)] for k, n in items])
    pic.png = _draw(lambda fig: _barh(fig, [k for k, _ in items], [n for _, n in items], texts, "rows"))
    return pic


def _edges(lo: int, hi: int, bins: int = 20) -> list[int]:
    """Integer bin edges covering [lo, hi]: unit bins when the range is small, else ~``bins`` equal ones."""
    width = max(1, math.ceil((hi - lo + 1) / bins))
    return list(range(lo, hi + width + 1, width))


def word_histograms(folder: Path, kind: str, stats: dict) -> dict[str, dict[str, list[int]]]:
    """Per config and split: rows per bin of words per row (the same words as the card's tables: the
    row's text split on whitespace). Returns {config: {"edges": [...], split: [counts...]}}."""
    import bisect

    from hub_tools.artifacts.datalayout import discover_layout
    from hub_tools.validate.dataset_checks import iter_rows, row_text

    layout = discover_layout(folder)
    out: dict[str, dict[str, list[int]]] = {}
    for config, splits in layout.configs.items():
        cfg = stats.get("configs", {}).get(config, {}).get("splits", {})
        if not cfg:
            continue
        lo = min(s["words_per_row"]["min"] for s in cfg.values())
        hi = max(s["words_per_row"]["max"] for s in cfg.values())
        edges = _edges(lo, hi)
        out[config] = {"edges": edges}
        for split, files in splits.items():
            counts = [0] * (len(edges) - 1)
            for rel in files:
                for _, row, problem in iter_rows(folder, rel):
                    if row is None:
                        continue
                    text, schema_problem, _ = row_text(kind, row)
                    if schema_problem:
                        continue
                    counts[min(len(counts) - 1, bisect.bisect_right(edges, len(text.split())) - 1)] += 1
            out[config][split] = counts
    return out


def length_picture(config: str, hist: dict[str, list[int]], many_configs: bool) -> Picture:
    edges = hist["edges"]
    splits = [s for s in hist if s != "edges"]
    labels = [f"{a}" if b - a == 1 else f"{a}–{b - 1}" for a, b in zip(edges[:-1], edges[1:])]
    suffix = f" ({config})" if many_configs else ""
    pic = Picture(f"words-per-row{'-' + config if many_configs else ''}", f"Words per row{suffix}",
                  f"Histogram of words per row by split{suffix}: " + "; ".join(
                      f"{s} {sum(hist[s]):,} rows" for s in splits),
                  columns=["words per row", *splits],
                  rows=[[lab, *(f"{hist[s][i]:,}" for s in splits)] for i, lab in enumerate(labels)])

    def draw(fig) -> None:
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(splits))
        for j, s in enumerate(splits):
            ax.bar([i + j * width for i in range(len(labels))], hist[s], width=width, label=s)
        ax.set_xticks([i + width * (len(splits) - 1) / 2 for i in range(len(labels))], labels, rotation=60,
                      fontsize=7, ha="right")
        ax.set_xlabel("words per row")
        ax.set_ylabel("rows")
        ax.legend()
        ax.spines[["top", "right"]].set_visible(False)

    pic.png = _draw(draw)
    return pic


def win_rates(folder: Path) -> tuple[list[str], dict[tuple[str, str], tuple[float, int]]] | None:
    """Arena battles in any config with model_a, model_b and winner: (models, {(row, col): (win rate, battles)}).
    Ties count half a win to each side, as in the ratings."""
    from hub_tools.artifacts.datalayout import discover_layout
    from hub_tools.validate.dataset_checks import iter_rows

    layout = discover_layout(folder)
    for config, splits in layout.configs.items():
        wins: dict[tuple[str, str], float] = {}
        games: dict[tuple[str, str], int] = {}
        found = False
        for files in splits.values():
            for rel in files:
                for _, row, _ in iter_rows(folder, rel, columns=["model_a", "model_b", "winner"]):
                    if row is None or not {"model_a", "model_b", "winner"} <= set(row):
                        break
                    found = True
                    a, b, w = row["model_a"], row["model_b"], row["winner"]
                    score_a = 1.0 if w == "model_a" else 0.0 if w == "model_b" else 0.5
                    for x, y, s in ((a, b, score_a), (b, a, 1 - score_a)):
                        wins[(x, y)] = wins.get((x, y), 0.0) + s
                        games[(x, y)] = games.get((x, y), 0) + 1
        if found:
            models = sorted({m for pair in games for m in pair})
            return models, {k: (wins[k] / games[k], games[k]) for k in games}
    return None


def win_rate_picture(models: list[str], rates: dict[tuple[str, str], tuple[float, int]]) -> Picture:
    pic = Picture("win-rates", "Win rates", "Heatmap: how often the row model beat the column model "
                  "(ties count half)", columns=["model", *models],
                  rows=[[a, *(f"{pct(rates[(a, b)][0])} ({rates[(a, b)][1]:,})" if (a, b) in rates else "–"
                              for b in models)] for a in models],
                  note="Cells: win rate of the row model against the column model (battles).")

    def draw(fig) -> None:
        ax = fig.add_subplot()
        grid = [[rates[(a, b)][0] if (a, b) in rates else float("nan") for b in models] for a in models]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdBu")
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(models)), models, fontsize=8)
        for i, a in enumerate(models):
            for j, b in enumerate(models):
                if (a, b) in rates:
                    ax.text(j, i, pct(rates[(a, b)][0]), ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, label="win rate of the row model")

    side = max(3.6, 1.0 + 0.6 * len(models))
    pic.png = _draw(draw, (side + 1.5, side))
    return pic


def ranking_picture(dimension: str, table: list[dict]) -> Picture:
    rows = [r for r in table if r.get("rating") is not None]
    pic = Picture(f"ranking-{dimension}", f"Ranking ({dimension})", f"Ratings with 95% intervals ({dimension}): "
                  + ", ".join(f"{r['model']} {r['rating']}" for r in rows),
                  columns=["rank", "model", "rating", "95% CI"],
                  rows=[[str(r["rank"]), r["model"], str(r["rating"]),
                         f"{r['ci_low']} – {r['ci_high']}" if r.get("ci_low") is not None else ""] for r in rows])

    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = list(range(len(rows)))[::-1]
        for yi, r in zip(y, rows):
            lo, hi = r.get("ci_low"), r.get("ci_high")
            err = [[r["rating"] - lo], [hi - r["rating"]]] if lo is not None else None
            ax.errorbar(r["rating"], yi, xerr=err, fmt="o", color="#4C72B0", capsize=3)
        ax.set_yticks(y, [r["model"] for r in rows])
        ax.set_xlabel("rating (Elo scale)")
        ax.spines[["top", "right"]].set_visible(False)

    pic.png = _draw(draw, (6.4, max(2.4, 0.5 * len(rows) + 1)))
    return pic


def dataset_pictures(folder: Path, kind: str, stats: dict, prov_statistics: dict) -> list[Picture]:
    out: list[Picture] = []
    if stats.get("language_share"):
        out.append(language_picture(stats["language_share"], "Shares of the rows sampled per split for language "
                                                              "identification (the Languages section)."))
    if stats.get("sources"):
        out.append(source_picture(stats["sources"]))
    hists = word_histograms(folder, kind, stats)
    for config, hist in hists.items():
        out.append(length_picture(config, hist, len(hists) > 1))
    if kind == "preferences":
        rates = win_rates(folder)
        if rates:
            out.append(win_rate_picture(*rates))
        for dim, table in (prov_statistics.get("rankings") or {}).items():
            if table:
                out.append(ranking_picture(dim, table))
    return out


# --- models ---------------------------------------------------------------------------------------

def loss_picture(log_history: list[dict]) -> Picture | None:
    train = [(h["step"], h["loss"]) for h in log_history if isinstance(h.get("loss"), (int, float))
             and math.isfinite(h["loss"]) and "step" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if isinstance(h.get("eval_loss"), (int, float))
             and math.isfinite(h["eval_loss"]) and "step" in h]
    if not train and not evals:
        return None
    steps = sorted({s for s, _ in train} | {s for s, _ in evals})
    tr, ev = dict(train), dict(evals)
    fmt = "{:.4f}".format
    pic = Picture("loss", "Loss", f"Line chart: training loss{' and evaluation loss' if evals else ''} by step, "
                  f"{len(steps)} logged steps", columns=["step", "training loss", "evaluation loss"],
                  rows=[[str(s), fmt(tr[s]) if s in tr else "", fmt(ev[s]) if s in ev else ""] for s in steps],
                  note="From the trainer's log (training_metrics.json).")

    def draw(fig) -> None:
        ax = fig.add_subplot()
        if train:
            ax.plot([s for s, _ in train], [v for _, v in train], marker="o", markersize=2, label="training")
        if evals:
            ax.plot([s for s, _ in evals], [v for _, v in evals], marker="s", markersize=3, label="evaluation")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
        ax.grid(alpha=0.3)

    pic.png = _draw(draw)
    return pic


def _score_key(r) -> tuple:
    return (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type)


def _stderr(r) -> float | None:
    v = (r.metric_args or {}).get("stderr") if r is not None else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def scores_picture(evals: list, base_evals: list | None, base_name: str | None) -> Picture | None:
    if not evals:
        return None
    base = {_score_key(r): r for r in base_evals or []}
    items = [(r, base.get(_score_key(r))) for r in evals]
    fmt = "{:g}".format
    has_base = any(b is not None for _, b in items)
    label = lambda r: f"{r.task_name or r.task_type} · {r.metric_name or r.metric_type}"  # noqa: E731
    pic = Picture("scores", "Evaluation scores", "Bar chart: evaluation scores of this model"
                  + (f" next to the base model {base_name}" if has_base else "") + ": " + ", ".join(
                      f"{label(r)} {fmt(r.metric_value)}" for r, _ in items),
                  columns=["task · metric", "this model", f"base ({base_name})" if base_name else "base", "delta"],
                  rows=[[label(r), fmt(r.metric_value) + (f" ± {_stderr(r):.4g}" if _stderr(r) else ""),
                         (fmt(b.metric_value) + (f" ± {_stderr(b):.4g}" if _stderr(b) else "")) if b else "–",
                         f"{r.metric_value - b.metric_value:+.4g}" if b else "–"] for r, b in items],
                  note="" if has_base else "The release holds no evaluation results of the base model.")

    def draw(fig) -> None:
        axes = fig.subplots(len(items), 1, squeeze=False)[:, 0]
        for ax, (r, b) in zip(axes, items):
            names, values, errs = ["this model"], [r.metric_value], [_stderr(r) or 0]
            if b is not None:
                names.insert(0, "base")
                values.insert(0, b.metric_value)
                errs.insert(0, _stderr(b) or 0)
            ax.barh(range(len(names)), values, xerr=errs if any(errs) else None,
                    color=["#999999", "#4C72B0"][-len(names):], capsize=3)
            ax.set_yticks(range(len(names)), names, fontsize=8)
            ax.set_title(label(r), fontsize=9, loc="left")
            for i, (v, e) in enumerate(zip(values, errs)):  # right of the error bar
                ax.annotate(fmt(v), (v + e, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
            ax.set_xlim(0, max(v + e for v, e in zip(values, errs)) * 1.3 or 1)
            ax.spines[["top", "right"]].set_visible(False)

    pic.png = _draw(draw, (6.4, 0.4 + 1.1 * len(items)))
    return pic


def model_pictures(folder: Path, evals: list | None, base_evals: list | None, base_name: str | None) -> list[Picture]:
    out: list[Picture] = []
    log_file = folder / "training_metrics.json"
    if log_file.is_file():
        history = json.loads(log_file.read_text(encoding="utf-8"))
        pic = loss_picture(history if isinstance(history, list) else history.get("log_history", []))
        if pic:
            out.append(pic)
    pic = scores_picture(evals or [], base_evals, base_name)
    if pic:
        out.append(pic)
    return out
