"""Gopher quality and repetition rules (Rae et al. 2021, Table A1) over words split once per document.

A word is a run of letters, digits or underscores (``\\w+``) of the lower-cased text: punctuation is never
a word, so it cannot drag a document's share of alphabetic words down. Each word gets a 64-bit hash once;
the repetition n-grams are compared by keys built from those hashes, and the same hashes go on, through the
document's metadata, to the MinHash shingles (recipes/corpus/dedup.py). A regular expression instead of
spaCy: the rules only need word boundaries, and it is far faster.
The language-dependent thresholds come from a profile (recipes/corpus/thresholds.py).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

_WORD = re.compile(r"\w+")
_NON_ALPHA_WORD = re.compile(r"(?<!\w)[\d_]+(?!\w)")  # \w+ tokens without a letter: digits, underscores
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
WORD_HASHES_KEY = "_word_hashes"
MIN_LINES_FOR_LINE_RULES = 3  # bullet and ellipsis line shares apply from this many lines on


_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: n-gram keys as polynomials of word hashes
_HASHES: dict[str, int] = {}
_HASHES_MAX = 1_000_000  # entries kept per worker (about 100 MB at most), then the cache starts over


def tokenize(text: str) -> list[str]:
    """The words of a text, lower-cased."""
    return _WORD.findall(text.lower())


def word_hashes(words: list[str]) -> np.ndarray:
    """A stable 64-bit hash (xxh64) per word, cached per worker: the repetition n-grams and the MinHash
    shingles are built from these."""
    from xxhash import xxh64_intdigest

    if len(_HASHES) > _HASHES_MAX:
        _HASHES.clear()
    get = _HASHES.get
    out = []
    for w in words:
        h = get(w)
        if h is None:
            h = _HASHES[w] = xxh64_intdigest(w)
        out.append(h)
    return np.array(out, dtype=np.uint64)


def ngram_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """One 64-bit key per n-gram (position i: words i..i+n-1), a polynomial of the word hashes mod 2**64."""
    m = len(hashes) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    keys = hashes[:m].copy()
    for j in range(1, n):
        keys *= _MULT
        keys += hashes[j:j + m]
    return keys


@dataclass(frozen=True)
class QualityThresholds:
    """Every threshold resolved (config over profile); ``None`` switches a rule off."""

    min_doc_words: int | None
    max_doc_words: int | None
    min_avg_word_length: float | None
    max_avg_word_length: float | None
    min_alpha_words_ratio: float | None
    min_stop_words: int | None
    stop_words: frozenset[str]
    max_symbol_word_ratio: float | None
    max_bullet_lines_ratio: float | None
    max_ellipsis_lines_ratio: float | None


@dataclass(frozen=True)
class RepetitionThresholds:
    dup_line_frac: float | None
    dup_para_frac: float | None
    dup_line_char_frac: float | None
    dup_para_char_frac: float | None
    top_n_grams: tuple[tuple[int, float], ...]
    dup_n_grams: tuple[tuple[int, float], ...]


def word_metrics(text: str, words: list[str], stop_words: frozenset[str]) -> dict[str, float]:
    """The per-document figures the language-dependent rules compare (also what profiles are derived from)."""
    n = len(words)
    if not n:
        return {"words": 0, "avg_word_length": 0.0, "alpha_words_ratio": 0.0, "stop_words": 0}
    non_alpha = len(_NON_ALPHA_WORD.findall(text))
    return {"words": n, "avg_word_length": sum(map(len, words)) / n, "alpha_words_ratio": (n - non_alpha) / n,
            "stop_words": len(stop_words.intersection(words))}


def gopher_reason(text: str, words: list[str], t: QualityThresholds) -> str | None:
    """Why Gopher's quality rules reject the document (None: they keep it)."""
    n = len(words)
    if t.min_doc_words and n < t.min_doc_words:
        return "gopher_short_doc"
    if t.max_doc_words and n > t.max_doc_words:
        return "gopher_long_doc"
    if not n:
        return "gopher_short_doc"
    m = word_metrics(text, words, t.stop_words)
    if t.min_avg_word_length is not None and m["avg_word_length"] < t.min_avg_word_length:
        return "gopher_below_avg_word_length"
    if t.max_avg_word_length is not None and m["avg_word_length"] > t.max_avg_word_length:
        return "gopher_above_avg_word_length"
    if t.max_symbol_word_ratio is not None:
        if text.count("#") / n > t.max_symbol_word_ratio:
            return "gopher_too_many_hashes"
        if (text.count("...") + text.count("…")) / n > t.max_symbol_word_ratio:
            return "gopher_too_many_ellipsis"
    lines = text.splitlines()
    if len(lines) >= MIN_LINES_FOR_LINE_RULES:  # a share of one or two lines says nothing about a list
        if t.max_bullet_lines_ratio is not None and sum(
                s.lstrip().startswith(("•", "-")) for s in lines) / len(lines) > t.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        if t.max_ellipsis_lines_ratio is not None and sum(
                s.rstrip().endswith(("...", "…")) for s in lines) / len(lines) > t.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis"
    if t.min_alpha_words_ratio is not None and m["alpha_words_ratio"] < t.min_alpha_words_ratio:
        return "gopher_below_alpha_words_ratio"
    if t.min_stop_words and m["stop_words"] < t.min_stop_words:
        return "gopher_few_stop_words"
    return None


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    elements = chars = 0
    for x in items:
        if x in seen:
            elements += 1
            chars += len(x)
        else:
            seen.add(x)
    return elements, chars


def _repeated_ngram_chars(keys: np.ndarray, lengths: np.ndarray, n: int) -> int:
    """Characters in n-grams seen before, not counting overlaps (Gopher's duplicate n-gram fraction)."""
    seen: set[int] = set()
    chars, i = 0, 0
    keys = keys.tolist()
    while i < len(keys):
        if keys[i] in seen:
            chars += int(lengths[i:i + n].sum())
            i += n
        else:
            seen.add(keys[i])
            i += 1
    return chars


def repetition_reason(text: str, words: list[str], r: RepetitionThresholds,
                      hashes: np.ndarray | None = None) -> str | None:
    """Why Gopher's repetition rules reject the document (None: they keep it). N-grams are compared by
    their 64-bit keys (``hashes``: :func:`word_hashes` of ``words``)."""
    size = len(text) or 1
    paragraphs = _PARAGRAPHS.split(text.strip())
    dup, chars = _duplicates(paragraphs)
    if r.dup_para_frac is not None and dup / len(paragraphs) > r.dup_para_frac:
        return "dup_para_frac"
    if r.dup_para_char_frac is not None and chars / size > r.dup_para_char_frac:
        return "dup_para_char_frac"
    lines = _LINES.split(text)
    dup, chars = _duplicates(lines)
    if r.dup_line_frac is not None and dup / len(lines) > r.dup_line_frac:
        return "dup_line_frac"
    if r.dup_line_char_frac is not None and chars / size > r.dup_line_char_frac:
        return "dup_line_char_frac"
    if not (r.top_n_grams or r.dup_n_grams) or len(words) < 2:
        return None
    hashes = word_hashes(words) if hashes is None else hashes
    pairs = np.sort(ngram_keys(hashes, 2))
    if not (pairs[1:] == pairs[:-1]).any():  # no pair of words repeats, so no longer n-gram does either
        return None
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    for n, frac in r.top_n_grams:
        keys = ngram_keys(hashes, n).tolist()
        if not keys:
            continue
        key, count = Counter(keys).most_common(1)[0]
        if count > 1:
            start = keys.index(key)
            if (int(lengths[start:start + n].sum()) + n - 1) * count / size > frac:
                return f"top_{n}_gram"
    if r.dup_n_grams:
        smallest = ngram_keys(hashes, min(n for n, _ in r.dup_n_grams)).tolist()
        if len(set(smallest)) < len(smallest):  # no repeated shortest n-gram: no longer one repeats either
            for n, frac in r.dup_n_grams:
                if _repeated_ngram_chars(ngram_keys(hashes, n), lengths, n) / size > frac:
                    return f"duplicated_{n}_n_grams"
    return None


class QualityFilter(BaseFilter):
    """Gopher quality, Gopher repetition and bad words over words split once; their hashes go on in
    ``metadata["_word_hashes"]`` to the dedup signatures when ``share_words`` (removed there, never
    written)."""

    name = "🥇 quality (Gopher + repetition)"

    def __init__(self, quality: QualityThresholds | None, repetition: RepetitionThresholds | None,
                 bad_words: frozenset[str] = frozenset(), share_words: bool = False, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.quality, self.repetition, self.bad_words = quality, repetition, bad_words
        self.share_words = share_words

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        words = tokenize(doc.text)
        hashes = None
        reason = gopher_reason(doc.text, words, self.quality) if self.quality else None
        if reason is None and self.repetition:
            hashes = word_hashes(words)
            reason = repetition_reason(doc.text, words, self.repetition, hashes)
        if reason is None and self.bad_words and not self.bad_words.isdisjoint(words):
            reason = "bad_words"
        if reason:
            return False, reason
        if self.share_words:
            doc.metadata[WORD_HASHES_KEY] = word_hashes(words) if hashes is None else hashes
        return True
