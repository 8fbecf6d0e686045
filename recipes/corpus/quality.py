"""Gopher quality and repetition rules (Rae et al. 2021, Table A1) over words split once per document.

A word is a run of letters, digits or underscores (``\\w+``) of the lower-cased text: punctuation is never
a word, so it cannot drag a document's share of alphabetic words down. The same words feed the repetition
n-grams and, through the document's metadata, the MinHash signature (recipes/corpus/dedup.py). A regular
expression instead of spaCy: the rules only need word boundaries, and this is about 50 times faster.
The language-dependent thresholds come from a profile (recipes/corpus/thresholds.py).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

_WORD = re.compile(r"\w+")
_NON_ALPHA_WORD = re.compile(r"(?<!\w)[\d_]+(?!\w)")  # \w+ tokens without a letter: digits, underscores
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
MIN_LINES_FOR_LINE_RULES = 3  # bullet and ellipsis line shares apply from this many lines on


def tokenize(text: str) -> list[str]:
    """The words of a text, lower-cased."""
    return _WORD.findall(text.lower())


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


def _repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams seen before, not counting overlaps (Gopher's duplicate n-gram fraction)."""
    seen: set[tuple[str, ...]] = set()
    chars, i, last = 0, 0, len(words) - n + 1
    while i < last:
        gram = tuple(words[i:i + n])
        if gram in seen:
            chars += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def repetition_reason(text: str, words: list[str], r: RepetitionThresholds) -> str | None:
    """Why Gopher's repetition rules reject the document (None: they keep it)."""
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
    for n, frac in r.top_n_grams:
        if len(words) < n:
            continue
        gram, count = Counter(zip(*(words[i:] for i in range(n)))).most_common(1)[0]
        if count > 1 and (sum(map(len, gram)) + n - 1) * count / size > frac:
            return f"top_{n}_gram"
    if r.dup_n_grams:
        smallest = min(n for n, _ in r.dup_n_grams)
        grams = list(zip(*(words[i:] for i in range(smallest))))
        if len(set(grams)) < len(grams):  # no repeated shortest n-gram: no longer one repeats either
            for n, frac in r.dup_n_grams:
                if _repeated_ngram_chars(words, n) / size > frac:
                    return f"duplicated_{n}_n_grams"
    return None


class QualityFilter(BaseFilter):
    """Gopher quality, Gopher repetition and bad words over words split once; the words go on in
    ``metadata["_words"]`` for the dedup signatures when ``share_words``."""

    name = "🥇 quality (Gopher + repetition)"

    def __init__(self, quality: QualityThresholds | None, repetition: RepetitionThresholds | None,
                 bad_words: frozenset[str] = frozenset(), share_words: bool = False, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.quality, self.repetition, self.bad_words = quality, repetition, bad_words
        self.share_words = share_words

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        words = tokenize(doc.text)
        reason = (gopher_reason(doc.text, words, self.quality) if self.quality else None) or \
                 (repetition_reason(doc.text, words, self.repetition) if self.repetition else None)
        if reason is None and self.bad_words and not self.bad_words.isdisjoint(words):
            reason = "bad_words"
        if reason:
            return False, reason
        if self.share_words:
            doc.metadata["_words"] = words
        return True
