"""Overlap between a release's evaluation sets and its training artifacts: normalised word n-grams.

Every evaluation item (an `eval` artifact's rows, or the documents of an lm-eval task listed under
``validation.overlap.evaluation_sets``) is cut into normalised word n-grams (hub_tools.text.ngrams),
hashed to 64 bits and kept in one sorted array: the index, as large as the evaluation sets (small).
Each training artifact (corpus, instructions, preferences) is then streamed in batches: its texts'
n-gram hashes are looked up in the index with a binary search. Memory: the index plus one batch,
whatever the size of the training data. An item overlaps an artifact when one of its n-grams occurs
there; an item of fewer than n words has no n-gram and is counted as not checked.

Findings: HT601 (warning) per evaluation set and training artifact, naming the overlapping item ids
and where each was first found; HT602 (error) when an evaluation set's overlapping share exceeds
``max_fraction``. The result also goes into each involved artifact's statistics, which the card's
"Overlap with evaluation sets" section prints.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub_tools.artifacts.datalayout import DATA_SUFFIXES, discover_layout, file_format
from hub_tools.artifacts.manifest import Manifest
from hub_tools.artifacts.overlap_settings import OverlapSettings
from hub_tools.text.ngrams import ngram_hashes
from hub_tools.validate.findings import Finding
from hub_tools.validate.json_batches import rows_table

TRAINING_KINDS = ("corpus", "instructions", "preferences")
TRAINING_COLUMNS = {
    "corpus": ("text",),
    "instructions": ("messages", "prompt", "instruction", "input", "response", "output", "completion"),
    "preferences": ("prompt", "chosen", "rejected", "completion", "conv_a", "conv_b"),
}
FILTER_BITS = 21
FILTER_MASK = np.uint64((1 << FILTER_BITS) - 1)
METHOD = ("normalised word n-grams (NFKC, lower case, punctuation and symbols removed, whitespace split), "
          "64-bit hashes, exact match")


@dataclass
class EvalSet:
    name: str
    ids: list[str]
    checked: np.ndarray  # bool per item: has at least one n-gram


@dataclass
class Index:
    """Sorted n-gram hashes of every evaluation item, with the (set, item) each comes from."""

    hashes: np.ndarray
    set_of: np.ndarray
    item_of: np.ndarray
    sets: list[EvalSet] = field(default_factory=list)
    _filter: np.ndarray | None = None

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Positions in ``hashes`` that are in the index. A bitmap of the hashes' low bits (2 MiB) first
        rules out nearly every training n-gram with one array gather; the binary search sees the rest."""
        if not len(self.hashes) or not len(hashes):
            return np.zeros(0, np.int64)
        if self._filter is None:
            self._filter = np.zeros(1 << FILTER_BITS, bool)
            self._filter[(self.hashes & FILTER_MASK).astype(np.int64)] = True
        candidates = np.flatnonzero(self._filter[(hashes & FILTER_MASK).astype(np.int64)])
        if not len(candidates):
            return candidates
        pos = np.minimum(np.searchsorted(self.hashes, hashes[candidates]), len(self.hashes) - 1)
        return candidates[self.hashes[pos] == hashes[candidates]]

    def items(self, h: int) -> list[tuple[int, int]]:
        lo, hi = np.searchsorted(self.hashes, h, "left"), np.searchsorted(self.hashes, h, "right")
        return list(zip(self.set_of[lo:hi].tolist(), self.item_of[lo:hi].tolist()))


def _texts(value: Any) -> list[str]:
    """The texts of a field value: a string, a list of strings, or a list of {role, content} messages."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, dict) and isinstance(v.get("content"), str):
                out.append(v["content"])
        return out
    return []


def _data_files(path: Path) -> list[tuple[Path, str]]:
    if path.is_file():
        return [(path.parent, path.name)]
    layout = discover_layout(path)
    files = layout.files or sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                                   if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    return [(path, f) for f in files]


def _rows(folder: Path, rel: str, columns: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    from hub_tools.validate.dataset_checks import iter_rows

    for i, (_, row, _) in enumerate(iter_rows(folder, rel, columns=columns)):
        if row is not None:
            yield i, row


def read_eval_set(name: str, path: Path, id_field: str = "id", text_fields: list[str] | None = None) -> tuple[
        list[str], list[list[str]]]:
    """(item ids, texts per item) of an evaluation set: a data file or a folder of them (an eval artifact)."""
    ids: list[str] = []
    texts: list[list[str]] = []
    files = _data_files(path)
    for folder, rel in files:
        for i, row in _rows(folder, rel):
            ident = row.get(id_field)
            ids.append(str(ident) if ident is not None else f"{rel}:{i}" if len(files) > 1 else str(i))
            fields = text_fields or [k for k in row if k != id_field]
            texts.append([t for k in fields for t in _texts(row.get(k))])
    return ids, texts


def build_index(sets: list[tuple[str, list[str], list[list[str]]]], n: int) -> Index:
    hashes, set_of, item_of, infos = [], [], [], []
    for s, (name, ids, texts) in enumerate(sets):
        segments = [t for item in texts for t in item]
        owner = np.repeat(np.arange(len(texts)), [len(item) for item in texts]).astype(np.int64)
        h, seg = ngram_hashes(segments, n)
        items = owner[seg]
        checked = np.zeros(len(ids), bool)
        checked[items] = True
        hashes.append(h)
        item_of.append(items)
        set_of.append(np.full(len(h), s, np.int64))
        infos.append(EvalSet(name, ids, checked))
    allh = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    order = np.argsort(allh, kind="stable")
    return Index(allh[order], np.concatenate(set_of)[order] if set_of else np.zeros(0, np.int64),
                 np.concatenate(item_of)[order] if item_of else np.zeros(0, np.int64), infos)


def _segments(batch: pa.Table | pa.RecordBatch, columns: tuple[str, ...]) -> tuple[pa.Array, np.ndarray]:
    """The texts of a batch's text columns as one string array, and the row each comes from."""
    arrays, rows = [], []
    for name in columns:
        if name not in batch.schema.names:
            continue
        col = batch.column(name)
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            arrays.append(col.cast(pa.large_string()))
            rows.append(np.arange(len(col), dtype=np.int64))
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            values = pc.list_flatten(col)
            parents = np.asarray(pc.list_parent_indices(col), dtype=np.int64)
            vt = values.type
            if pa.types.is_struct(vt) and vt.get_field_index("content") >= 0:
                values = pc.struct_field(values, "content")
                vt = values.type
            if pa.types.is_string(vt) or pa.types.is_large_string(vt):
                arrays.append(values.cast(pa.large_string()))
                rows.append(parents)
    if not arrays:
        return pa.array([], pa.large_string()), np.zeros(0, np.int64)
    return pa.concat_arrays(arrays), np.concatenate(rows)


def _batches(folder: Path, rel: str, columns: tuple[str, ...], batch_rows: int) -> Iterator[pa.Table | pa.RecordBatch]:
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(folder / rel)
        cols = [c for c in columns if c in pf.schema_arrow.names]
        if cols:
            yield from pf.iter_batches(batch_size=batch_rows, columns=cols)
        return
    rows: list[dict] = []
    for _, row in _rows(folder, rel):
        rows.append({k: row[k] for k in columns if k in row})
        if len(rows) >= batch_rows:
            yield rows_table(rows)
            rows = []
    if rows:
        yield rows_table(rows)


@dataclass
class Hit:
    file: str
    row: int


def scan_artifact(folder: Path, kind: str, index: Index, n: int, batch_rows: int = 4096,
                  on_bytes: Any = None) -> dict[tuple[int, int], Hit]:
    """{(set, item): first place found} for every evaluation item with an n-gram in this artifact."""
    found: dict[tuple[int, int], Hit] = {}
    columns = TRAINING_COLUMNS.get(kind, ("text",))
    for rel in discover_layout(folder).files:
        offset = 0
        for batch in _batches(folder, rel, columns, batch_rows):
            segments, rows = _segments(batch, columns)
            if on_bytes is not None:
                on_bytes(int(pc.sum(pc.binary_length(segments)).as_py() or 0))
            hashes, seg = ngram_hashes(segments, n)
            for pos in index.lookup(hashes):
                for key in index.items(int(hashes[pos])):
                    found.setdefault(key, Hit(rel, offset + int(rows[seg[pos]])))
            offset += batch.num_rows
    return found


def _settings_line(manifest: Manifest, *loc) -> int | None:
    return manifest.line_of("validation", "overlap", *loc)


def check_release_overlap(manifest: Manifest, statistics: dict[str, dict]) -> list[Finding]:
    """Run the check for a release; adds ``statistics[name]["overlap"]`` to each involved artifact."""
    settings: OverlapSettings = manifest.validation.overlap
    src = manifest.source.name if manifest.source else "release.yaml"
    findings: list[Finding] = []
    sets: list[tuple[str, list[str], list[list[str]]]] = []
    involved: list[str] = []
    for i, es in enumerate(settings.evaluation_sets):
        path = (manifest.base_dir / es.path).resolve()
        if not path.exists():
            findings.append(Finding("HT003", f"evaluation set {es.name}: {es.path} does not exist", file=src,
                                    line=_settings_line(manifest, "evaluation_sets", i, "path"),
                                    field=f"validation.overlap.evaluation_sets.{i}.path"))
            continue
        sets.append((es.name, *read_eval_set(es.name, path, es.id_field, es.text_fields)))
    for art in manifest.artifacts:
        if art.kind == "eval" and manifest.artifact_path(art).is_dir():
            sets.append((art.name, *read_eval_set(art.name, manifest.artifact_path(art))))
            involved.append(art.name)
    names = settings.training if settings.training is not None else [
        a.name for a in manifest.artifacts if a.kind in TRAINING_KINDS]
    training = [a for a in manifest.artifacts if a.name in names and manifest.artifact_path(a).is_dir()]
    if not sets or not training:
        return findings
    index = build_index(sets, settings.n)
    per_set: list[dict[str, Any]] = [{"name": s.name, "items": len(s.ids), "checked": int(s.checked.sum()),
                                      "overlapping": 0, "fraction": 0.0, "found_in": {}, "ids": []} for s in index.sets]
    overlapping: list[set[int]] = [set() for _ in index.sets]
    for art in training:
        hits = scan_artifact(manifest.artifact_path(art), art.kind, index, settings.n)
        by_set: dict[int, list[tuple[int, Hit]]] = {}
        for (s, item), hit in sorted(hits.items()):
            by_set.setdefault(s, []).append((item, hit))
            overlapping[s].add(item)
        for s, items in by_set.items():
            es = index.sets[s]
            per_set[s]["found_in"][art.name] = len(items)
            listed = ", ".join(f"{es.ids[i]} ({h.file} row {h.row})" for i, h in items[: settings.list_ids])
            more = f" and {len(items) - settings.list_ids} more" if len(items) > settings.list_ids else ""
            findings.append(Finding("HT601", f"evaluation set {es.name}: {len(items)} of {len(es.ids)} item(s) share a "
                                    f"{settings.n}-gram with {art.name}: {listed}{more}", file=items[0][1].file,
                                    row=items[0][1].row, artifact=art.name))
        involved.append(art.name)
    for s, es in enumerate(index.sets):
        ids = sorted(overlapping[s])
        per_set[s].update(overlapping=len(ids), fraction=round(len(ids) / len(es.ids), 6) if es.ids else 0.0,
                          ids=[es.ids[i] for i in ids[: settings.list_ids]])
        if es.ids and len(ids) / len(es.ids) > settings.max_fraction:
            findings.append(Finding("HT602", f"evaluation set {es.name}: {len(ids)} of {len(es.ids)} items "
                                    f"({len(ids) / len(es.ids):.1%}) overlap the training data, above the limit of "
                                    f"{settings.max_fraction:.1%}", file=src,
                                    line=_settings_line(manifest, "max_fraction"), field="validation.overlap"))
    result = {"n": settings.n, "method": METHOD, "training": [a.name for a in training], "sets": per_set}
    for name in involved:
        if name in statistics:
            statistics[name]["overlap"] = result
    return findings
