"""Rows added, removed and kept between two versions, from 64-bit row hashes, in bounded memory.

Both versions' hashes of one group (a config/split) are collected as uint64 arrays. While all groups
together stay under the memory budget they stay in memory; past it, every buffer is flushed to 256
partition files per group and side, by the hash's top byte, and later ones are appended there. A
group is then compared one partition at a time; a partition still over the budget is split again by
the next byte. So memory is bounded by the budget (plus one batch of rows), not by the data size.

Rows are a multiset: a row present twice before and three times now is one added, two kept.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FANOUT = 256
MIN_BUDGET = 1024


@dataclass
class GroupCounts:
    old_rows: int = 0
    new_rows: int = 0
    added: int = 0
    removed: int = 0
    kept: int = 0


@dataclass
class SpillStats:
    budget_bytes: int
    spilled: bool = False
    partitions_written: int = 0
    peak_buffer_bytes: int = 0


def _compare_sorted(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(added hashes, their counts, removed hashes, their counts, kept) of two hash arrays."""
    uo, co = np.unique(old, return_counts=True)
    un, cn = np.unique(new, return_counts=True)
    pos = np.searchsorted(uo, un)
    in_old = pos < len(uo)
    in_old[in_old] = uo[pos[in_old]] == un[in_old]
    old_count_for_new = np.zeros(len(un), np.int64)
    old_count_for_new[in_old] = co[pos[in_old]]
    kept = int(np.minimum(cn, old_count_for_new).sum())
    add_n = cn - np.minimum(cn, old_count_for_new)
    pos = np.searchsorted(un, uo)
    in_new = pos < len(un)
    in_new[in_new] = un[pos[in_new]] == uo[in_new]
    new_count_for_old = np.zeros(len(uo), np.int64)
    new_count_for_old[in_new] = cn[pos[in_new]]
    rem_n = co - np.minimum(co, new_count_for_old)
    return un[add_n > 0], add_n[add_n > 0], uo[rem_n > 0], rem_n[rem_n > 0], kept


@dataclass
class _Buffer:
    chunks: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    spill_dir: Path | None = None


class RowSetDiff:
    """Collect row hashes per (group, side) with :meth:`add`, then :meth:`compare` each group.

    ``keep_hashes`` bounds how many added/removed hashes per group :meth:`compare` returns (for
    locating example rows); the counts are always exact."""

    def __init__(self, budget_bytes: int = 256 << 20, workdir: str | Path | None = None):
        if budget_bytes < MIN_BUDGET:
            raise ValueError(f"memory budget of {budget_bytes} bytes is too small (at least {MIN_BUDGET} bytes)")
        self.budget = budget_bytes
        self.stats = SpillStats(budget_bytes)
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._in_memory = 0
        self._root_arg = workdir
        self._root: Path | None = None

    # --- collecting ---------------------------------------------------------------------------
    def add(self, group: str, side: str, hashes: np.ndarray) -> None:
        if side not in ("old", "new"):
            raise ValueError(side)
        buf = self._buffers.setdefault((group, side), _Buffer())
        self._buffers.setdefault((group, "new" if side == "old" else "old"), _Buffer())
        hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        buf.rows += len(hashes)
        if buf.spill_dir is not None:
            self._append_partitions(buf.spill_dir, hashes, 0)
            return
        buf.chunks.append(hashes)
        self._in_memory += hashes.nbytes
        self.stats.peak_buffer_bytes = max(self.stats.peak_buffer_bytes, self._in_memory)
        if self._in_memory > self.budget:
            self._spill_all()

    def groups(self) -> list[str]:
        return sorted({g for g, _ in self._buffers})

    def _workdir(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="hubtool-diff-", dir=self._root_arg))
        return self._root

    def _spill_all(self) -> None:
        self.stats.spilled = True
        for (group, side), buf in self._buffers.items():
            if buf.spill_dir is None:
                buf.spill_dir = self._workdir() / f"{len(list(self._workdir().iterdir()))}-{side}"
                buf.spill_dir.mkdir()
            for chunk in buf.chunks:
                self._append_partitions(buf.spill_dir, chunk, 0)
            buf.chunks = []
        self._in_memory = 0

    def _append_partitions(self, folder: Path, hashes: np.ndarray, level: int) -> None:
        shift = np.uint64(56 - 8 * level)
        part = ((hashes >> shift) & np.uint64(0xFF)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        hashes, part = hashes[order], part[order]
        bounds = np.searchsorted(part, np.arange(FANOUT + 1))
        for p in range(FANOUT):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                with open(folder / f"{p:03d}.u64", "ab") as f:
                    f.write(hashes[lo:hi].tobytes())
                self.stats.partitions_written += 1

    # --- comparing ----------------------------------------------------------------------------
    def compare(self, group: str, keep_hashes: int = 0) -> tuple[GroupCounts, np.ndarray, np.ndarray]:
        """Counts of one group, and up to ``keep_hashes`` added and removed row hashes (with repeats)."""
        old, new = self._buffers[(group, "old")], self._buffers[(group, "new")]
        counts = GroupCounts(old_rows=old.rows, new_rows=new.rows)
        added: list[np.ndarray] = []
        removed: list[np.ndarray] = []
        for o, n in self._pairs(old, new):
            a, ac, r, rc, kept = _compare_sorted(o, n)
            counts.kept += kept
            counts.added += int(ac.sum())
            counts.removed += int(rc.sum())
            if keep_hashes:
                if sum(map(len, added)) < keep_hashes:
                    added.append(np.repeat(a, ac)[: keep_hashes])
                if sum(map(len, removed)) < keep_hashes:
                    removed.append(np.repeat(r, rc)[: keep_hashes])
        empty = np.zeros(0, np.uint64)
        return (counts, np.concatenate(added)[:keep_hashes] if added else empty,
                np.concatenate(removed)[:keep_hashes] if removed else empty)

    def positions(self, group: str, side: str, wanted: np.ndarray, limit: int) -> np.ndarray | None:
        """Positions (in the order rows were added) of the ``wanted`` hashes (with repeats: the last
        occurrences of each), the first ``limit`` of them; None when this side went to disk, where
        positions are not kept (then the rows are found by hashing them again)."""
        buf = self._buffers[(group, side)]
        if buf.spill_dir is not None:
            return None
        arr = np.concatenate(buf.chunks) if buf.chunks else np.zeros(0, np.uint64)
        if not len(wanted) or not len(arr):
            return np.zeros(0, np.int64)
        uniq, counts = np.unique(wanted, return_counts=True)
        order = np.argsort(arr, kind="stable")
        ends = np.searchsorted(arr[order], uniq, "right")
        firsts = np.repeat(ends - counts, counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.sort(order[firsts + offsets])[:limit]

    def _pairs(self, old: _Buffer, new: _Buffer) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if old.spill_dir is None and new.spill_dir is None:
            yield (np.concatenate(old.chunks) if old.chunks else np.zeros(0, np.uint64),
                   np.concatenate(new.chunks) if new.chunks else np.zeros(0, np.uint64))
            return
        for side in (old, new):  # a group that had not spilled yet goes to disk too: one code path
            if side.spill_dir is None:
                side.spill_dir = self._workdir() / f"{len(list(self._workdir().iterdir()))}-late"
                side.spill_dir.mkdir()
                for chunk in side.chunks:
                    self._append_partitions(side.spill_dir, chunk, 0)
                side.chunks = []
        assert old.spill_dir is not None and new.spill_dir is not None
        yield from self._partition_pairs(old.spill_dir, new.spill_dir, 0)

    def _partition_pairs(self, old_dir: Path, new_dir: Path, level: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for p in range(FANOUT):
            op, np_ = old_dir / f"{p:03d}.u64", new_dir / f"{p:03d}.u64"
            size = (op.stat().st_size if op.exists() else 0) + (np_.stat().st_size if np_.exists() else 0)
            if size == 0:
                continue
            if size * 2 <= self.budget or level >= 7:  # sorting needs about twice the data
                yield (np.fromfile(op, np.uint64) if op.exists() else np.zeros(0, np.uint64),
                       np.fromfile(np_, np.uint64) if np_.exists() else np.zeros(0, np.uint64))
                continue
            sub_old, sub_new = old_dir / f"{p:03d}.d", new_dir / f"{p:03d}.d"
            for src, dst in ((op, sub_old), (np_, sub_new)):
                dst.mkdir()
                if src.exists():
                    self._split_file(src, dst, level + 1)
            yield from self._partition_pairs(sub_old, sub_new, level + 1)
            shutil.rmtree(sub_old)
            shutil.rmtree(sub_new)

    def _split_file(self, src: Path, dst: Path, level: int) -> None:
        chunk = max(1, self.budget // 16)  # items per read, well inside the budget
        with open(src, "rb") as f:
            while True:
                data = np.frombuffer(f.read(chunk * 8), np.uint64)
                if not len(data):
                    break
                self._append_partitions(dst, data, level)

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> "RowSetDiff":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
