"""Row checks on whole Arrow string arrays: words, characters, 64-bit fingerprints and suspect rows.

The per-row Python checks (:func:`hub_tools.validate.dataset_checks.check_text`) cost microseconds a row;
here the UTF-8 bytes of a whole batch are classified with a few numpy passes over ~1 MiB slices, so only
rows that may hold a finding (a control character, a secret's needle, an ``@``) or unusual whitespace are
looked at in Python. The results equal the Python definitions exactly:

- ``words[i] == len(text.split())`` (Python's Unicode whitespace), so ``words == 0`` is "empty or
  whitespace-only";
- ``chars[i] == len(text)``;
- ``hashes[i]`` is xxh3-64 of ``text.strip()`` in UTF-8 (duplicate detection; meaningless where empty);
- ``suspects`` holds every row on which the exact checks could report something (a superset).

Bytes <= 0x20 are taken as whitespace, which is Python's definition except for control bytes (rows holding
them are suspects, and recounted exactly) and for multi-byte whitespace (U+0085, U+00A0, U+1680,
U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000: rows holding them are recounted exactly too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash

SLICE_BYTES = 1 << 20


@dataclass
class TextScan:
    words: np.ndarray    # int64
    chars: np.ndarray    # int64
    hashes: np.ndarray   # uint64
    suspects: np.ndarray  # sorted row indices (int64)


def _buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets relative to the data buffer, data bytes) of a string or large_string array without nulls."""
    dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    off = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset:arr.offset + len(arr) + 1].astype(np.int64)
    data = arr.buffers()[2]
    return off, (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8))


# Bytes worth a second look: controls (not \t \n \r), DEL, "@", the needles' "_", "-" and "I", and every
# byte of a multi-byte character (found by _Scratch.rare).
_RARE = np.zeros(256, dtype=bool)
_RARE[[*range(0x20), 0x7F, ord("@"), ord("_"), ord("-"), ord("I"), *range(0x80, 0x100)]] = True
_RARE[[9, 10, 13]] = False


def _at(c: np.ndarray, p: np.ndarray, shift: int) -> np.ndarray:
    """Bytes at p + shift (clipped into the slice: a needle cut by the slice edge cannot be in one row)."""
    return c[np.clip(p + shift, 0, len(c) - 1)]


class _Scratch:
    """Work arrays reused from slice to slice (allocating them per slice costs as much as the passes)."""

    def __init__(self, size: int):
        self.u8 = np.empty(size, np.uint8)
        self.a = np.empty(size, bool)
        self.b = np.empty(size, bool)
        self.start = np.empty(size, bool)

    def rare(self, c: np.ndarray) -> np.ndarray:
        """Positions of the bytes _RARE marks: < 0x20 or >= 0x7F in one compare (c - 0x20 wraps), then the
        four ASCII needles; each pass writes into the same buffers."""
        n = len(c)
        u, a, b = self.u8[:n], self.a[:n], self.b[:n]
        np.subtract(c, 0x20, out=u)
        np.greater_equal(u, 0x5F, out=a)
        for v in (ord("@"), ord("_"), ord("-"), ord("I")):
            np.logical_or(a, np.equal(c, v, out=b), out=a)
        p = np.flatnonzero(a)
        v = c[p]
        return p[(v != 9) & (v != 10) & (v != 13)]


def _classify(c: np.ndarray, scratch: _Scratch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In one slice: (positions of possible findings, positions of bytes that make the fast word count
    inexact, positions of UTF-8 continuation bytes)."""
    p = scratch.rare(c)
    v = c[p]
    control = p[v < 0x20]  # \v, \f and 0x1c-0x1f are whitespace but also HT109
    suspect: list[np.ndarray] = [control, p[(v == 0x7F) | (v == ord("@"))]]
    inexact: list[np.ndarray] = [control]
    q = p[v == ord("_")]  # hf_
    suspect.append(q[(_at(c, q, -1) == ord("f")) & (_at(c, q, -2) == ord("h"))])
    q = p[v == ord("-")]  # sk-
    suspect.append(q[(_at(c, q, -1) == ord("k")) & (_at(c, q, -2) == ord("s"))])
    q = p[v == ord("I")]  # AKIA / ASIA, and PRIVATE
    k = _at(c, q, -1)
    suspect.append(q[((_at(c, q, 1) == ord("A")) & ((k == ord("K")) | (k == ord("S"))) & (_at(c, q, -2) == ord("A")))
                     | ((k == ord("R")) & (_at(c, q, 1) == ord("V")))])
    high = p[v >= 0x80]  # bytes of multi-byte characters
    lead = high[c[high] >= 0xC2]
    if len(lead):
        first, b1, b2 = c[lead], _at(c, lead, 1), _at(c, lead, 2)
        c1 = (first == 0xC2) & (b1 >= 0x80) & (b1 <= 0x9F)  # U+0080-U+009F (controls; U+0085 is also a space)
        suspect.append(lead[c1 | ((first == 0xEF) & (b1 == 0xBF) & (b2 == 0xBD))])  # and U+FFFD
        inexact.append(lead[c1 | ((first == 0xC2) & (b1 == 0xA0))  # U+00A0
                            | ((first == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))  # U+1680
                            | ((first == 0xE2) & (b1 == 0x80) & ((b2 <= 0x8A) | (b2 == 0xA8) | (b2 == 0xA9)
                                                                 | (b2 == 0xAF)))
                            | ((first == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))  # U+205F
                            | ((first == 0xE3) & (b1 == 0x80) & (b2 == 0x80))])  # U+3000
    continuation = high[c[high] < 0xC0]
    return np.concatenate(suspect), np.concatenate(inexact), continuation


def scan_texts(arr: pa.Array) -> TextScan:
    """Scan a string/large_string array without nulls (callers drop nulls first)."""
    n = len(arr)
    off, data = _buffers(arr)
    words = np.zeros(n, dtype=np.int64)
    chars = off[1:] - off[:-1]  # bytes, less continuation bytes below
    suspect_rows: list[np.ndarray] = []
    inexact_rows: list[np.ndarray] = []
    cuts = np.searchsorted(off, np.arange(off[0], off[-1], SLICE_BYTES), side="left").tolist() + [n]
    cuts = sorted(set([0] + [min(x, n) for x in cuts]))
    widest = max((int(off[r1] - off[r0]) for r0, r1 in zip(cuts, cuts[1:])), default=0)
    scratch = _Scratch(widest)
    for r0, r1 in zip(cuts, cuts[1:]):
        o0, o1 = int(off[r0]), int(off[r1])
        if o1 == o0:
            continue
        c = data[o0:o1]
        ws = np.less_equal(c, 0x20, out=scratch.a[:len(c)])
        start = scratch.start[:len(c)]
        start[0] = not ws[0]
        np.less(ws[1:], ws[:-1], out=start[1:])  # a non-space byte after a space starts a word
        rel = off[r0:r1] - o0
        lengths = off[r0 + 1:r1 + 1] - off[r0:r1]
        nonempty = np.flatnonzero(lengths > 0)
        first = rel[nonempty]
        start[first] = ~ws[first]  # each row starts afresh
        words[r0 + nonempty] = np.add.reduceat(start, first, dtype=np.int32)
        ends = off[r0 + 1:r1 + 1] - o0
        sus, inexact, cont = _classify(c, scratch)
        if len(sus):
            suspect_rows.append(r0 + np.searchsorted(ends, sus, side="right"))
        if len(inexact):
            inexact_rows.append(r0 + np.searchsorted(ends, inexact, side="right"))
        if len(cont):  # a character is one byte plus its continuation bytes
            chars[r0:r1] -= np.bincount(np.searchsorted(ends, cont, side="right"), minlength=r1 - r0)[: r1 - r0]
    suspects = np.unique(np.concatenate(suspect_rows)) if suspect_rows else np.zeros(0, np.int64)
    exact = np.union1d(suspects, np.concatenate(inexact_rows)) if inexact_rows else suspects
    hashes = np.zeros(n, dtype=np.uint64)
    # rows whose first or last byte is whitespace need stripping; plain ASCII whitespace strips as bytes
    starts, stops = off[:-1].copy(), off[1:].copy()
    nonempty = stops > starts
    edge = np.zeros(n, dtype=bool)
    edge[nonempty] = (data[starts[nonempty]] <= 0x20) | (data[stops[nonempty] - 1] <= 0x20)
    view = memoryview(arr.buffers()[2]) if data.size else memoryview(b"")
    for i in np.flatnonzero(edge).tolist():
        raw = bytes(view[starts[i]:stops[i]])
        stripped = raw.lstrip()
        starts[i] += len(raw) - len(stripped)
        stops[i] = starts[i] + len(stripped.rstrip())
    h = xxhash.xxh3_64_intdigest
    hashes[:] = [h(view[a:b]) for a, b in zip(starts.tolist(), stops.tolist())]
    for i in exact.tolist():  # exact Python definitions where the byte view could be wrong
        text = arr[i].as_py()
        words[i] = len(text.split())
        hashes[i] = h(text.strip().encode("utf-8"))
    return TextScan(words, chars, hashes, suspects)


def text_hash(text: str) -> int:
    """The fingerprint :func:`scan_texts` gives a row with this text (for rows checked one by one)."""
    return xxhash.xxh3_64_intdigest(text.strip().encode("utf-8"))
