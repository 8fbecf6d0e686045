"""One data file, scanned once: its row findings, statistics, fingerprints and language sample.

A :class:`FileScan` depends only on the file's bytes, the artifact kind and two settings, so it is cached
by content hash (:mod:`hub_tools.validate.cache`): a re-validation reads only files whose content changed.
Everything that spans files (features across shards, duplicates, train/eval leakage, language shares) is
computed afterwards from the scans (:func:`hub_tools.validate.dataset_checks.check_dataset`).

Parquet corpora take the vectorised path (:mod:`hub_tools.validate.textscan`) on whole Arrow batches;
other kinds and jsonl check each row's schema in Python and then scan their texts the same way.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hub_tools.artifacts.datalayout import file_format
from hub_tools.artifacts.manifest import ValidationSettings
from hub_tools.validate.textscan import scan_texts

BATCH_ROWS = 16_384
SCAN_THREADS = min(4, os.cpu_count() or 1)  # files of a split scanned at once (Arrow, numpy release the GIL)
TEXT_SAMPLE_CHARS = 1000


@dataclass
class ScanCounters:
    """Rows and files whose rows this process actually read (tests count them; caches keep them at 0)."""

    files: int = 0
    rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, files: int = 0, rows: int = 0) -> None:
        with self._lock:  # files are scanned on several threads
            self.files += files
            self.rows += rows


COUNTERS = ScanCounters()


@dataclass
class FileScan:
    file: str
    features: str | None = None
    unreadable: str | None = None            # HT101: the file cannot be opened as data at all
    missing: list[str] = field(default_factory=list)  # HT102: required columns absent (rows not scanned)
    findings: list[dict] = field(default_factory=list)  # row findings, the first `limit` of each code
    counts: dict[str, int] = field(default_factory=dict)  # every row finding, by code
    rows: int = 0
    chars: int = 0
    words: int = 0
    word_hist: dict[int, int] = field(default_factory=dict)  # words per row -> rows
    sources: dict[str, int] = field(default_factory=dict)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # non-empty rows, in order
    locs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))     # their row (0-based) or line
    by_line: bool = False                    # locs are jsonl line numbers rather than parquet rows
    sample: list[tuple[int, str]] = field(default_factory=list)  # bottom-k rows by fingerprint: (hash, text)

    def add(self, code: str, message: str, loc: int | None = None, field_name: str | None = None,
            limit: int = 20) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1
        if self.counts[code] <= limit:
            where = ({"line": loc} if self.by_line else {"row": loc}) if loc is not None else {}
            self.findings.append({"code": code, "message": message, "field": field_name, **where})


class _Accumulator:
    """Collects the per-batch results of one file into its FileScan."""

    def __init__(self, scan: FileScan, sample_size: int):
        self.scan, self.k = scan, sample_size
        self.hashes: list[np.ndarray] = []
        self.locs: list[np.ndarray] = []
        self.words: list[np.ndarray] = []
        self.sample_h = np.zeros(0, np.uint64)
        self.sample_t: list[str] = []

    def texts(self, texts: pa.Array, locs: np.ndarray, field_name: str | None, limit: int) -> None:
        """Check a batch of schema-valid texts (no nulls) found at ``locs``."""
        from hub_tools.validate.dataset_checks import check_text

        res = scan_texts(texts)
        scan = self.scan
        scan.rows += len(texts)
        scan.chars += int(res.chars.sum())
        scan.words += int(res.words.sum())
        self.words.append(res.words)
        empty = res.words == 0
        findings: list[tuple[int, str, str]] = [(int(i), "HT105", "empty or whitespace-only text")
                                                for i in np.flatnonzero(empty)]
        for i in res.suspects[~empty[res.suspects]].tolist():
            for code, message in check_text(texts[i].as_py()):
                findings.append((i, code, message))
        for i, code, message in sorted(findings, key=lambda f: f[0]):
            scan.add(code, message, int(locs[i]), field_name, limit)
        keep = ~empty
        self.hashes.append(res.hashes[keep])
        self.locs.append(locs[keep])
        self._sample(res.hashes[keep], texts, np.flatnonzero(keep))

    def _sample(self, hashes: np.ndarray, texts: pa.Array, index: np.ndarray) -> None:
        """Keep the k rows with the smallest fingerprints: a uniform sample that merges across files."""
        if not len(hashes):
            return
        k = self.k
        sel = np.flatnonzero(hashes < self.sample_h[-1]) if len(self.sample_h) >= k else np.arange(len(hashes))
        if not len(sel):
            return
        if len(sel) > k:
            sel = sel[np.argpartition(hashes[sel], k - 1)[:k]]
        cand_h = np.concatenate([self.sample_h, hashes[sel]])
        cand_t = self.sample_t + [t[:TEXT_SAMPLE_CHARS] for t in texts.take(pa.array(index[sel])).to_pylist()]
        _, first = np.unique(cand_h, return_index=True)  # sorted by hash, one row per distinct text
        first = first[: self.k]
        self.sample_h = cand_h[first]
        self.sample_t = [cand_t[j] for j in first.tolist()]

    def finish(self) -> FileScan:
        scan = self.scan
        scan.hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        scan.locs = np.concatenate(self.locs) if self.locs else np.zeros(0, np.int64)
        if self.words:
            values, counts = np.unique(np.concatenate(self.words), return_counts=True)
            scan.word_hist = dict(zip(values.tolist(), counts.tolist()))
        scan.sample = list(zip(self.sample_h.tolist(), self.sample_t))
        return scan


def _is_text_type(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def scan_file(folder: Path, rel: str, kind: str, limit: int, sample_size: int,
              data: pa.Buffer | None = None) -> FileScan:
    """Scan one data file. ``data``: its bytes when the caller already has them mapped (read once)."""
    from hub_tools.validate.dataset_checks import features_of, required_columns

    scan = FileScan(rel, by_line=file_format(rel) != "parquet")
    try:
        if data is not None and not scan.by_line:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(pa.BufferReader(data))
            scan.features = ", ".join(f"{f.name}: {f.type}" for f in pf.schema_arrow)
        else:
            pf = None
            scan.features = features_of(folder, rel)
    except Exception as err:  # unreadable file: arrow/gzip/OS errors
        scan.unreadable = f"cannot read: {err}"
        return scan
    columns = {c.split(":")[0] for c in scan.features.split(", ") if c}
    scan.missing = required_columns(kind, columns)
    if scan.missing:
        return scan
    COUNTERS.add(files=1)
    acc = _Accumulator(scan, sample_size)
    try:
        if pf is None and not scan.by_line:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(folder / rel)
        if pf is not None and kind == "corpus" and _is_text_type(pf.schema_arrow.field("text").type):
            _scan_corpus_parquet(pf, acc, limit)
        else:
            _scan_rows(folder, rel, kind, acc, limit, pf)
    except Exception as err:  # a corrupt page or gzip stream half-way through
        scan.add("HT101", f"cannot read past a point: {err}", None, None, limit)
    return acc.finish()


def _scan_corpus_parquet(pf, acc: _Accumulator, limit: int) -> None:
    """Corpus parquet with a string ``text`` column: every check on whole batches."""
    import pyarrow.compute as pc

    names = set(pf.schema_arrow.names)
    has_source = "source" in names and _is_text_type(pf.schema_arrow.field("source").type)
    base = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=["text"] + (["source"] if has_source else [])):
        n = batch.num_rows
        COUNTERS.add(rows=n)
        text = batch.column(0)
        try:
            text.validate(full=True)  # invalid UTF-8 would make the byte view disagree with Python
        except pa.ArrowInvalid:
            _check_rows(batch.to_pylist(), np.arange(base, base + n), "corpus", acc, limit)
            base += n
            continue
        valid = text.is_valid()
        if text.null_count:
            for i in np.flatnonzero(~valid.to_numpy(zero_copy_only=False)).tolist():
                acc.scan.add("HT103", "'text' must be a string", base + i, "text", limit)
            idx = np.flatnonzero(valid.to_numpy(zero_copy_only=False))
            texts = text.filter(valid)
        else:
            idx = np.arange(n)
            texts = text
        if has_source:
            src = batch.column(1).filter(valid) if text.null_count else batch.column(1)
            for item in pc.value_counts(src.drop_null()).to_pylist():
                acc.scan.sources[item["values"]] = acc.scan.sources.get(item["values"], 0) + item["counts"]
        acc.texts(texts, base + idx, "text", limit)
        base += n


def _check_rows(rows: list[dict], locs: np.ndarray, kind: str, acc: _Accumulator, limit: int) -> None:
    """Schema checks row by row (Python); the texts of valid rows then go through the batch scan."""
    from hub_tools.validate.dataset_checks import row_text

    texts: list[str] = []
    keep: list[int] = []
    field_name = None
    for j, row in enumerate(rows):
        text, problem, fname = row_text(kind, row)
        if problem:
            acc.scan.add("HT103", problem, int(locs[j]), fname, limit)
            continue
        field_name = fname
        texts.append(text)
        keep.append(j)
        if kind == "corpus" and isinstance(row.get("source"), str):
            acc.scan.sources[row["source"]] = acc.scan.sources.get(row["source"], 0) + 1
    if texts:
        acc.texts(pa.array(texts, pa.large_string()), locs[keep], field_name, limit)


def _scan_rows(folder: Path, rel: str, kind: str, acc: _Accumulator, limit: int, pf: Any) -> None:
    from hub_tools.validate.dataset_checks import iter_rows

    if pf is not None:  # parquet of another kind (or a corpus whose text is not a string column)
        base = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            COUNTERS.add(rows=batch.num_rows)
            _check_rows(batch.to_pylist(), np.arange(base, base + batch.num_rows), kind, acc, limit)
            base += batch.num_rows
        return
    rows: list[dict] = []
    lines: list[int] = []
    for ref, row, problem in iter_rows(folder, rel):
        COUNTERS.add(rows=1)
        if problem is not None:
            code, _, msg = problem.partition(":")
            acc.scan.add(code, msg, ref.line, None, limit)
            continue
        rows.append(row)
        lines.append(ref.line)
        if len(rows) >= BATCH_ROWS:
            _check_rows(rows, np.array(lines, dtype=np.int64), kind, acc, limit)
            rows, lines = [], []
    if rows:
        _check_rows(rows, np.array(lines, dtype=np.int64), kind, acc, limit)


def scan_cached(folder: Path, rel: str, kind: str, settings: ValidationSettings) -> FileScan:
    """The scan of one data file: from the cache when this content was scanned before."""
    from hub_tools.artifacts.filehash import mapped
    from hub_tools.validate import cache

    with mapped(folder / rel) as (data, hashes):
        key = cache.key_of("file", hashes.sha256, kind, settings.max_findings_per_check, settings.language_sample)
        hit = cache.load_scan(key)
        if hit is not None:
            hit.file = rel
            return hit
        result = scan_file(folder, rel, kind, settings.max_findings_per_check, settings.language_sample, data)
    cache.save_scan(key, result)
    return result


def scan_all(folder: Path, files: list[str], kind: str, settings: ValidationSettings) -> Iterator[FileScan]:
    """The scans of ``files`` in order, up to SCAN_THREADS at a time (Arrow and numpy release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    threads = min(SCAN_THREADS, len(files))
    if threads <= 1:
        yield from (scan_cached(folder, rel, kind, settings) for rel in files)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = [pool.submit(scan_cached, folder, rel, kind, settings) for rel in files[:threads]]
        for i in range(len(files)):
            result = pending[i].result()
            if i + threads < len(files):  # keep at most `threads` scans in memory
                pending.append(pool.submit(scan_cached, folder, files[i + threads], kind, settings))
            pending[i] = None  # type: ignore[call-overload]
            yield result
