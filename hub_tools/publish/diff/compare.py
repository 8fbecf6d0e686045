"""Comparing two sides of one artifact: rows, schema, provenance, card metadata, metrics, files."""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hub_tools.artifacts.datalayout import DataLayout, discover_layout, file_format
from hub_tools.artifacts.provenance import DATASET_KINDS, PROVENANCE_FILE
from hub_tools.publish.diff.model import (ArtifactDiff, FieldChange, FileChange, MemoryUse, MetricDelta, RowCounts,
                                          RowExample, SchemaChange, SideInfo)
from hub_tools.publish.diff.rowhash import row_hashes
from hub_tools.publish.diff.rowset import RowSetDiff
from hub_tools.publish.diff.sides import Side
from hub_tools.validate.json_batches import rows_table

CARD_IMAGES_DIR = "card_images"  # written with the card (hub_tools.publish.pictures): derived, not compared
DERIVED_FILES = {"README.md", PROVENANCE_FILE, ".gitattributes"}
RUN_FACTS = {"started_at", "finished_at", "wall_time_s", "runtime", "statistics", "schema_version"}
ENVIRONMENT = {"libraries", "python", "git_commit", "build"}
EXAMPLE_HASHES = 65536
TEXT_KEYS = ("text", "messages", "prompt", "question", "instruction", "chosen", "source", "content")


def _batches(folder: Path, rel: str, batch_rows: int) -> Iterator[pa.Table | pa.RecordBatch]:
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(folder / rel).iter_batches(batch_size=batch_rows)
        return
    from hub_tools.validate.dataset_checks import iter_rows

    rows: list[dict] = []
    for _, row, _problem in iter_rows(folder, rel):
        if row is not None:  # unreadable lines are validation's business; they are not rows
            rows.append(row)
        if len(rows) >= batch_rows:
            yield rows_table(rows)
            rows = []
    if rows:
        yield rows_table(rows)


def _schema(folder: Path, rel: str) -> dict[str, str]:
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(folder / rel).schema_arrow
    else:
        schema = next(_batches(folder, rel, 1000), pa.table({})).schema
    return {f.name: str(f.type) for f in schema}


def _groups(layout: DataLayout) -> dict[tuple[str, str], list[str]]:
    return {(c, s): files for c, splits in layout.configs.items() for s, files in splits.items()}


def _preview(row: dict) -> str:
    def text_of(v: Any) -> str | None:
        if isinstance(v, str):
            return v
        if isinstance(v, list) and v:
            first = v[0]
            return first.get("content") if isinstance(first, dict) and isinstance(first.get("content"), str) else \
                first if isinstance(first, str) else None
        return None

    for key in TEXT_KEYS + tuple(row):
        t = text_of(row.get(key))
        if t:
            t = " ".join(t.split())
            return t if len(t) <= 80 else t[:79] + "…"
    return ""


def _row_id(row: dict) -> Any:
    if "id" in row:
        return row["id"]
    key = next((k for k in row if k.lower().endswith("id")), None)
    return row[key] if key else None


def _examples(folder: Path, files: list[str], config: str, split: str, wanted: np.ndarray, limit: int,
              batch_rows: int) -> list[RowExample]:
    """The first ``limit`` rows in file order whose hash is among ``wanted`` (with multiplicity)."""
    if not len(wanted) or not limit:
        return []
    uniq, counts = np.unique(wanted, return_counts=True)
    left = dict(zip(uniq.tolist(), counts.tolist()))
    out: list[RowExample] = []
    for rel in files:
        offset = 0
        for batch in _batches(folder, rel, batch_rows):
            h = row_hashes(batch)
            for i in np.flatnonzero(np.isin(h, uniq)):
                key = int(h[i])
                if left.get(key, 0) <= 0:
                    continue
                left[key] -= 1
                row = batch.slice(int(i), 1).to_pylist()[0]
                out.append(RowExample(config=config, split=split, file=rel, row=offset + int(i), id=_row_id(row),
                                      preview=_preview(row)))
                if len(out) >= limit:
                    return out
            offset += batch.num_rows
    return out


def _rows_at(folder: Path, sizes: list[tuple[str, int]], positions: np.ndarray, config: str, split: str,
             batch_rows: int) -> list[RowExample]:
    """The rows at these positions of a group (its files one after another), read without hashing."""
    out: list[RowExample] = []
    start = 0
    for rel, n in sizes:
        wanted = positions[(positions >= start) & (positions < start + n)] - start
        offset = 0
        for batch in (_batches(folder, rel, batch_rows) if len(wanted) else ()):
            for i in wanted[(wanted >= offset) & (wanted < offset + batch.num_rows)]:
                row = batch.slice(int(i - offset), 1).to_pylist()[0]
                out.append(RowExample(config=config, split=split, file=rel, row=int(i), id=_row_id(row),
                                      preview=_preview(row)))
            offset += batch.num_rows
            if offset > wanted.max():
                break
        start += n
    return out


def compare_rows(old: Side, new: Side, diff: ArtifactDiff, budget_bytes: int, show_rows: int,
                 batch_rows: int = 8192, workdir: str | Path | None = None) -> None:
    """Fill the row, config and schema parts of ``diff``."""
    assert old.folder is not None and new.folder is not None
    lo, ln = discover_layout(old.folder), discover_layout(new.folder)
    go, gn = _groups(lo), _groups(ln)
    diff.configs_added = sorted(set(ln.configs) - set(lo.configs))
    diff.configs_removed = sorted(set(lo.configs) - set(ln.configs))
    for config in sorted(set(lo.configs) & set(ln.configs)):
        so = _schema(old.folder, next(iter(lo.configs[config].values()))[0])
        sn = _schema(new.folder, next(iter(ln.configs[config].values()))[0])
        for col in sorted(set(so) | set(sn)):
            if col not in so:
                diff.schema_changes.append(SchemaChange(config=config, column=col, change="added", new_type=sn[col]))
            elif col not in sn:
                diff.schema_changes.append(SchemaChange(config=config, column=col, change="removed", old_type=so[col]))
            elif so[col] != sn[col]:
                diff.schema_changes.append(SchemaChange(config=config, column=col, change="type", old_type=so[col],
                                                        new_type=sn[col]))
    keys = sorted(set(go) | set(gn))
    total = RowCounts(config="*", split="*", old_rows=0, new_rows=0, added=0, removed=0, kept=0)
    sizes: dict[tuple[str, tuple[str, str]], list[tuple[str, int]]] = {}
    with RowSetDiff(budget_bytes, workdir) as rows:
        for key in keys:
            group = f"{key[0]}/{key[1]}"
            for side_name, side, groups in (("old", old, go), ("new", new, gn)):
                rows.add(group, side_name, np.zeros(0, np.uint64))
                for rel in groups.get(key, []):
                    n = 0
                    for batch in _batches(side.folder, rel, batch_rows):
                        rows.add(group, side_name, row_hashes(batch))
                        n += batch.num_rows
                    sizes.setdefault((side_name, key), []).append((rel, n))
        for key in keys:  # up to EXAMPLE_HASHES changed hashes kept: examples are then the first rows in file order
            counts, added, removed = rows.compare(f"{key[0]}/{key[1]}",
                                                  keep_hashes=max(show_rows, EXAMPLE_HASHES) if show_rows else 0)
            diff.rows.append(RowCounts(config=key[0], split=key[1], **counts.__dict__))
            for f in ("old_rows", "new_rows", "added", "removed", "kept"):
                setattr(total, f, getattr(total, f) + getattr(counts, f))
            for side_name, side, groups, wanted, found in (
                    ("new", new, gn, added, diff.examples_added), ("old", old, go, removed, diff.examples_removed)):
                room = show_rows - len(found)
                if room <= 0 or not len(wanted):
                    continue
                where = rows.positions(f"{key[0]}/{key[1]}", side_name, wanted, room)
                found += (_rows_at(side.folder, sizes.get((side_name, key), []), where, *key, batch_rows)
                          if where is not None else  # spilled: find the rows by their hashes
                          _examples(side.folder, groups.get(key, []), *key, wanted, room, batch_rows))
        diff.rows_total = total
        diff.memory = MemoryUse(budget_bytes=budget_bytes, spilled=rows.stats.spilled,
                                peak_hash_bytes=rows.stats.peak_buffer_bytes)
    data_files = set(lo.files) | set(ln.files)
    diff.data_files_rewritten = sorted(p for p in data_files if p not in old.files or p not in new.files
                                       or not old.files[p].same_as(new.files[p]))


def _named_list(value: Any) -> dict[str, Any] | None:
    """A list of mappings that each carry a unique `name` (sources, inputs), keyed by that name."""
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) and isinstance(v.get("name"), str)
                                                          for v in value):
        return None
    keyed = {v["name"]: v for v in value}
    return keyed if len(keyed) == len(value) else None


def diff_values(old: Any, new: Any, path: str, out: list[FieldChange]) -> None:
    """Field-level changes between two JSON values: mappings by key, lists of named mappings by name."""
    if old == new:
        return
    ko, kn = _named_list(old), _named_list(new)
    if isinstance(old, dict) and isinstance(new, dict) or (ko is not None and kn is not None):
        a, b = (old, new) if isinstance(old, dict) else (ko, kn)
        fmt = (lambda k: f"{path}.{k}" if path else k) if isinstance(old, dict) else (lambda k: f"{path}[{k}]")
        for k in list(a) + [k for k in b if k not in a]:
            if k not in b:
                out.append(FieldChange(field=fmt(k), change="removed", old=a[k]))
            elif k not in a:
                out.append(FieldChange(field=fmt(k), change="added", new=b[k]))
            else:
                diff_values(a[k], b[k], fmt(k), out)
        return
    out.append(FieldChange(field=path, change="changed", old=old, new=new))


def compare_provenance(old: dict | None, new: dict | None, diff: ArtifactDiff) -> None:
    old, new = old or {}, new or {}
    identity = {k: v for k, v in old.items() if k not in RUN_FACTS | ENVIRONMENT}
    identity_new = {k: v for k, v in new.items() if k not in RUN_FACTS | ENVIRONMENT}
    diff_values(identity, identity_new, "", diff.provenance)
    diff_values({k: old.get(k) for k in ENVIRONMENT if k in old}, {k: new.get(k) for k in ENVIRONMENT if k in new},
                "", diff.environment)


def _metric_key(r) -> tuple:
    return (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type)


def _stderr(r) -> float | None:
    v = (r.metric_args or {}).get("stderr") if r else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 else None


def metric_delta(old, new, z_threshold: float) -> MetricDelta:
    """One metric compared: the delta, the standard error of the difference, and its label.

    With both standard errors known, se = sqrt(se_old² + se_new²); with one, that one stands for both
    (se·√2); with none there is no error estimate."""
    ref = new or old
    out = MetricDelta(task=ref.task_name or ref.task_type, dataset=ref.dataset_name or ref.dataset_type,
                      split=ref.dataset_split, config=ref.dataset_config, metric=ref.metric_name or ref.metric_type,
                      old=old.metric_value if old else None, new=new.metric_value if new else None,
                      old_stderr=_stderr(old), new_stderr=_stderr(new), label="unchanged")
    if old is None or new is None:
        out.label = "added" if old is None else "removed"
        return out
    out.delta = round(float(new.metric_value) - float(old.metric_value), 10)
    known = [s for s in (out.old_stderr, out.new_stderr) if s is not None]
    if known:
        out.stderr = math.sqrt(sum(s * s for s in known)) if len(known) == 2 else known[0] * math.sqrt(2)
        out.z = round(abs(out.delta) / out.stderr, 4)
    if out.delta == 0:
        out.label = "unchanged"
    elif out.stderr is None:
        out.label = "no error estimate"
    else:
        out.label = "beyond error" if out.z > z_threshold else "within error"
    return out


def compare_metrics(old: list | None, new: list | None, diff: ArtifactDiff, z_threshold: float) -> None:
    a = {_metric_key(r): r for r in old or []}
    b = {_metric_key(r): r for r in new or []}
    for key in list(a) + [k for k in b if k not in a]:
        d = metric_delta(a.get(key), b.get(key), z_threshold)
        if d.label != "unchanged":
            diff.metrics.append(d)


def compare_files(old: Side, new: Side, diff: ArtifactDiff, data_files: set[str]) -> None:
    def counted(path: str) -> bool:
        return path not in DERIVED_FILES and path not in data_files and not path.startswith(CARD_IMAGES_DIR + "/")

    for path in sorted(set(old.files) | set(new.files)):
        if not counted(path):
            continue
        a, b = old.files.get(path), new.files.get(path)
        if a is None:
            diff.files.append(FileChange(path=path, change="added", new_size=b.size))
        elif b is None:
            diff.files.append(FileChange(path=path, change="removed", old_size=a.size))
        elif not a.same_as(b):
            diff.files.append(FileChange(path=path, change="changed", old_size=a.size, new_size=b.size))


def is_dataset(side: Side) -> bool:
    if side.kind:
        return side.kind in DATASET_KINDS
    return side.folder is not None and bool(discover_layout(side.folder).files)


def compare_artifact(name: str, old: Side, new: Side, budget_bytes: int = 256 << 20, show_rows: int = 10,
                     z_threshold: float = 1.96, workdir: str | Path | None = None) -> ArtifactDiff:
    """Everything that differs between two sides of one artifact."""
    diff = ArtifactDiff(name=name, kind=new.kind or old.kind, old=SideInfo(**old.describe()),
                        new=SideInfo(**new.describe()), status="unchanged")
    if not old.present or not new.present:
        diff.status = "added" if new.present else "removed"
        return diff
    data_files: set[str] = set()
    if is_dataset(old) and is_dataset(new):
        compare_rows(old, new, diff, budget_bytes, show_rows, workdir=workdir)
        data_files = set(discover_layout(old.folder).files) | set(discover_layout(new.folder).files)
    compare_provenance(old.provenance, new.provenance, diff)
    diff_values({k: v for k, v in old.card.items() if v is not None},
                {k: v for k, v in new.card.items() if v is not None}, "", diff.card)
    if old.eval_results is not None or new.eval_results is not None:
        compare_metrics(old.eval_results, new.eval_results, diff, z_threshold)
    compare_files(old, new, diff, data_files)
    total = diff.rows_total
    changed = bool((total and (total.added or total.removed)) or diff.configs_added or diff.configs_removed
                   or diff.schema_changes or diff.provenance or diff.card or diff.metrics or diff.files)
    diff.status = "changed" if changed else "unchanged"
    return diff
