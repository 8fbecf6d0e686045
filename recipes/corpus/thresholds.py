"""Language-aware quality thresholds, derived from clean reference text of the language (as FineWeb-2 did
for its languages, here with one simple rule).

The rules whose sensible values depend on the language get their thresholds from a *profile*: the bounds
of average word length, the minimum share of words with a letter, and the stop words. Each bound is the
value at which at most ``tolerance`` of the reference documents would fail that rule (a quantile of the
reference documents' figures, rounded outwards), so on text like the reference every such rule keeps at
least ``1 - tolerance`` of it. Stop words are the ``stop_words`` words found in most reference documents;
the minimum count is the same quantile of distinct stop words per document, capped at Gopher's 2 so that
short documents are not held to the reference's length. The structural rules (document length in words,
bullets, ellipses, '#', repetition) keep Gopher's values, set in the config.

Profiles are JSON files: ``recipes/corpus/thresholds/<lang>.json`` ship with the recipe (Basque, from the
UD Basque-BDT dev split); ``hubtool recipe corpus-thresholds`` writes one for another language from a
sample the user trusts.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .quality import QualityThresholds, RepetitionThresholds, tokenize, word_metrics

PROFILE_DIR = Path(__file__).resolve().parent / "thresholds"
DERIVED = ("min_avg_word_length", "max_avg_word_length", "min_alpha_words_ratio", "min_stop_words", "stop_words")
GOPHER_MIN_STOP_WORDS = 2


class ThresholdsError(ValueError):
    """No usable thresholds profile."""


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile, lower or upper order statistic (no interpolation past the sample)."""
    s = sorted(values)
    if q <= 0.5:
        return s[max(0, math.floor(q * (len(s) - 1)))]
    return s[min(len(s) - 1, math.ceil(q * (len(s) - 1)))]


def derive_thresholds(texts: Iterable[str], language: str, tolerance: float = 0.005, stop_words: int = 20,
                      min_words: int = 20, source: str = "") -> dict[str, Any]:
    """A thresholds profile from clean reference documents of ``language``.

    Documents with fewer than ``min_words`` words are left out (too short to say anything about a rate).
    """
    if not 0 < tolerance < 0.5:
        raise ThresholdsError(f"tolerance must be between 0 and 0.5, not {tolerance}")
    docs, digest = [], hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        words = tokenize(text)
        if len(words) >= min_words:
            docs.append((text, words))
    if len(docs) < 20:
        raise ThresholdsError(f"{len(docs)} reference documents with at least {min_words} words; need 20 or more")
    df = Counter(w for _, words in docs for w in set(words) if not w.isdigit())
    stops = frozenset(w for w, _ in df.most_common(stop_words))
    figures = [word_metrics(text, words, stops) for text, words in docs]
    avg = [f["avg_word_length"] for f in figures]
    alpha = [f["alpha_words_ratio"] for f in figures]
    stop_counts = [f["stop_words"] for f in figures]
    thresholds = {
        "min_avg_word_length": math.floor(_quantile(avg, tolerance) * 100) / 100,
        "max_avg_word_length": math.ceil(_quantile(avg, 1 - tolerance) * 100) / 100,
        "min_alpha_words_ratio": math.floor(_quantile(alpha, tolerance) * 100) / 100,
        "min_stop_words": int(min(GOPHER_MIN_STOP_WORDS, _quantile(stop_counts, tolerance))),
        "stop_words": sorted(stops, key=lambda w: (-df[w], w)),
    }
    return {
        "language": language,
        "thresholds": thresholds,
        "derived_from": {
            "source": source, "documents": len(docs), "sha256": digest.hexdigest(), "tolerance": tolerance,
            "min_words": min_words, "rule": "each bound fails at most `tolerance` of the reference documents",
            "reference_figures": {
                "avg_word_length": {"min": round(min(avg), 3), "median": round(_quantile(avg, 0.5), 3),
                                    "max": round(max(avg), 3)},
                "alpha_words_ratio": {"min": round(min(alpha), 3), "median": round(_quantile(alpha, 0.5), 3)},
                "stop_words_per_document": {"min": min(stop_counts), "median": _quantile(stop_counts, 0.5)},
            },
        },
    }


def read_texts(path: str | Path, text_key: str = "text") -> Iterator[str]:
    """Documents of a sample file: jsonl(.gz) (``text_key``), parquet, or txt (blank-line separated)."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(columns=[text_key]):
            yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))
        return
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        if name.endswith((".jsonl", ".json", ".ndjson")):
            for line in f:
                if line.strip():
                    text = json.loads(line).get(text_key)
                    if isinstance(text, str):
                        yield text
            return
        para: list[str] = []
        for line in f:
            if line.strip():
                para.append(line.rstrip("\n"))
            elif para:
                yield "\n".join(para)
                para = []
        if para:
            yield "\n".join(para)


def load_profile(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ThresholdsError(f"cannot read {path} ({err.strerror})") from None
    except ValueError as err:
        raise ThresholdsError(f"{path} is not JSON: {err}") from None
    missing = [k for k in DERIVED if k not in profile.get("thresholds", {})]
    if missing:
        raise ThresholdsError(f"{path}: thresholds lack {', '.join(missing)}")
    return profile


def profile_path(cfg) -> Path | None:
    """The profile a config uses: its own, else the one shipped for its language (None if neither)."""
    q = cfg.steps.quality
    if q.thresholds:
        return cfg.resolve(q.thresholds)
    shipped = PROFILE_DIR / f"{cfg.language}.json"
    return shipped if shipped.is_file() else None


def resolve_quality(cfg) -> tuple[QualityThresholds, RepetitionThresholds, dict[str, Any] | None]:
    """Config values over the profile's. Raises :class:`ThresholdsError` when a language-dependent
    threshold has neither."""
    g = cfg.steps.quality.gopher
    values = g.model_dump()
    profile = None
    if any(values[k] is None for k in DERIVED):
        path = profile_path(cfg)
        if path is None:
            raise ThresholdsError(
                f"no thresholds profile for language {cfg.language!r}: compute one from clean text with "
                f"`hubtool recipe corpus-thresholds --sample FILE --language {cfg.language} --output "
                f"{cfg.language}.json` and set steps.quality.thresholds, or set {', '.join(DERIVED)} under "
                "steps.quality.gopher")
        profile = load_profile(path)
        if profile.get("language") not in (None, cfg.language):
            raise ThresholdsError(f"{path} is for language {profile.get('language')!r}, not {cfg.language!r}")
        for k in DERIVED:
            if values[k] is None:
                values[k] = profile["thresholds"][k]
    values["stop_words"] = frozenset(w.lower() for w in values["stop_words"])
    rep = cfg.steps.quality.repetition
    repetition = RepetitionThresholds(
        rep.dup_line_frac, rep.dup_para_frac, rep.dup_line_char_frac, rep.dup_para_char_frac,
        tuple((int(n), r) for n, r in rep.top_n_grams), tuple((int(n), r) for n, r in rep.dup_n_grams))
    return QualityThresholds(**values), repetition, profile
