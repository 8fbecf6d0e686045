"""Normalised word n-grams as 64-bit hashes, computed on whole batches of texts without Python loops.

Normalisation (the decontamination convention of GPT-3 and lm-evaluation-harness): Unicode NFKC,
lower case, punctuation and symbols replaced by spaces, split on whitespace. So ``"Zein da  Arabako
HIRIBURUA?"`` and ``"zein da arabako hiriburua"`` give the same words.

Hashing: each word's UTF-8 bytes are hashed with a polynomial over the bytes (numpy, wrapping uint64
arithmetic) and a splitmix64 finaliser; an n-gram's hash is a polynomial over its n word hashes,
finalised again. An n-gram never spans two texts of a batch (``segments``). 64 bits: among a billion
distinct n-grams the chance of any false match against a 100,000-n-gram evaluation set is ~5e-6.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_PUNCT = r"[\p{P}\p{S}]+"
_ASCII_PUNCT = r"[!-/:-@\[-`{-~]+"  # every ASCII punctuation mark and symbol (the ASCII part of \p{P}\p{S})
_BYTE_BASE = np.uint64(0x100000001B3)      # FNV prime: odd, so multiplication is a bijection mod 2**64
_WORD_BASE = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant, odd


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the output (vectorised, in place safe)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _clean(arr: pa.Array, ascii_only: bool) -> pa.Array:
    if ascii_only:  # ASCII is its own NFKC form, and its punctuation and symbols are one byte range
        arr = pc.replace_substring_regex(pc.ascii_lower(arr), _ASCII_PUNCT, " ")
    else:
        arr = pc.replace_substring_regex(pc.utf8_lower(pc.utf8_normalize(arr, "NFKC")), _PUNCT, " ")
    return pc.utf8_trim_whitespace(arr)


def normalise(texts: pa.Array | Sequence[str]) -> pa.ListArray:
    """The normalised words of each text (a list array, one list per text; null texts give no words)."""
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    ascii_rows = np.asarray(pc.string_is_ascii(arr).fill_null(True), dtype=bool)
    if ascii_rows.all():
        arr = _clean(arr, True)
    elif not ascii_rows.any():
        arr = _clean(arr, False)
    else:  # the Unicode path (slower) only for the rows that need it, then back in order
        fast, slow = np.flatnonzero(ascii_rows), np.flatnonzero(~ascii_rows)
        both = pa.concat_arrays([_clean(arr.take(fast), True), _clean(arr.take(slow), False)])
        order = np.empty(len(arr), np.int64)
        order[np.concatenate([fast, slow])] = np.arange(len(arr))
        arr = both.take(order)
    return pc.utf8_split_whitespace(arr)


def word_hashes(words: pa.Array) -> np.ndarray:
    """64-bit hash of each word of a (large_)string array, from its UTF-8 bytes."""
    if len(words) == 0:
        return np.zeros(0, np.uint64)
    words = words.cast(pa.large_string()) if not pa.types.is_large_string(words.type) else words
    offsets = np.frombuffer(words.buffers()[1], np.int64)[words.offset: words.offset + len(words) + 1]
    data = np.frombuffer(words.buffers()[2], np.uint8)
    start, end = offsets[:-1], offsets[1:]
    lengths = (end - start).astype(np.int64)
    base = int(start[0])
    body = data[base: int(end[-1])].astype(np.uint64)
    starts = (start - base).astype(np.int64)
    position = np.arange(len(body), dtype=np.int64) - np.repeat(starts, lengths)
    powers = np.cumprod(np.full(int(lengths.max()), _BYTE_BASE, np.uint64))  # wraps mod 2**64
    contrib = (body + np.uint64(1)) * powers[position]
    h = np.add.reduceat(contrib, starts)  # every word has at least one byte
    return mix64(h ^ (lengths.astype(np.uint64) * _WORD_BASE))


def ngram_hashes(texts: pa.Array | Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, text index) of every normalised word n-gram of each text; a text shorter than n words has none."""
    if n < 1:
        raise ValueError("n must be at least 1")
    lists = normalise(texts)
    words = pc.list_flatten(lists)
    owner = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    keep = np.asarray(pc.binary_length(words)) > 0  # an empty text splits into one empty word
    if not keep.all():
        words, owner = words.filter(pa.array(keep)), owner[keep]
    # hash each distinct word once: natural text repeats its words (Zipf), so this is most of the speed
    encoded = pc.dictionary_encode(words)
    hashes = word_hashes(encoded.dictionary)[np.asarray(encoded.indices, dtype=np.int64)] if len(words) \
        else np.zeros(0, np.uint64)
    m = len(hashes) - n + 1
    if m <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    acc = np.zeros(m, np.uint64)
    for k in range(n):
        acc = acc * _WORD_BASE + hashes[k: k + m]
    valid = owner[:m] == owner[n - 1:]
    return mix64(acc[valid]), owner[:m][valid]


def word_counts(texts: pa.Array | Sequence[str]) -> np.ndarray:
    """Normalised words per text."""
    lists = normalise(texts)
    words = pc.list_flatten(lists)
    owner = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    nonempty = np.asarray(pc.binary_length(words)) > 0
    return np.bincount(owner[nonempty], minlength=len(lists)).astype(np.int64)
