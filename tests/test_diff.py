"""`hubtool diff` on local folders: row multisets in and out of the memory budget, schema, provenance,
metric labels, and the command's usage errors. (Diffs through the Hub: tests/test_release_insight.py.)"""
from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import cli
from huggingface_hub import EvalResult

from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance
from hub_tools.publish.diff.compare import metric_delta
from hub_tools.publish.diff.rowhash import row_hashes
from hub_tools.publish.diff.rowset import RowSetDiff


def corpus(folder, splits: dict[str, list[dict]], config: dict | None = None, libraries: dict | None = None):
    for split, rows in splits.items():
        (folder / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / f"{split}-00000-of-00001.parquet")
    prov = Provenance.create(kind="corpus", name="c", language=["eu"], recipe=RecipeInfo(name="t", version="1"),
                             config=config or {}, libraries=libraries or {"hubtool": "1"})
    write_provenance(folder, prov)
    return folder


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    words = ["etxe", "mendi", "itsaso", "haur", "parke", "bihar", "goiz", "lan"]
    return [{"id": f"r{i}", "text": " ".join(rng.choices(words, k=8)), "source": rng.choice(["a", "b"])}
            for i in range(n)]


@pytest.mark.parametrize("budget", ["256MiB", "1KiB"])
def test_rows_added_removed_kept_as_a_multiset(tmp_path, budget):
    base = _rows(3000, 0)
    old = base + [base[5], base[5]]                   # r5 three times
    new = base[100:] + [base[5], {"id": "x", "text": "berria", "source": "c"}, base[7]]  # r5 twice, r7 twice
    corpus(tmp_path / "old", {"train": old, "validation": base[:50]})
    corpus(tmp_path / "new", {"train": new, "validation": base[:50]})
    code, out = cli("diff", tmp_path / "old", tmp_path / "new", "--json", "--memory-budget", budget,
                    "--show-rows", "500")
    assert code == 0, out
    [a] = out["artifacts"]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    added = Counter(map(key, new)) - Counter(map(key, old))
    removed = Counter(map(key, old)) - Counter(map(key, new))
    kept = sum((Counter(map(key, old)) & Counter(map(key, new))).values())
    train = next(r for r in a["rows"] if r["split"] == "train")
    assert train == {"config": "default", "split": "train", "old_rows": len(old), "new_rows": len(new),
                     "added": sum(added.values()), "removed": sum(removed.values()), "kept": kept}
    assert next(r for r in a["rows"] if r["split"] == "validation")["added"] == 0
    assert Counter(e["id"] for e in a["examples_added"]) == Counter(json.loads(r)["id"] for r in added.elements())
    assert Counter(e["id"] for e in a["examples_removed"]) == Counter(json.loads(r)["id"] for r in removed.elements())
    added_row = next(e for e in a["examples_added"] if e["id"] == "x")
    assert added_row["file"] == "data/train-00000-of-00001.parquet" and added_row["row"] == len(new) - 2
    assert added_row["preview"] == "berria"
    assert a["memory"]["spilled"] is (budget == "1KiB")


def test_schema_provenance_and_environment(tmp_path):
    rows = _rows(20, 1)
    corpus(tmp_path / "old", {"train": rows}, config={"sources": [{"name": "a", "path": "a.txt"}], "min_words": 3},
           libraries={"hubtool": "1"})
    corpus(tmp_path / "new", {"train": [{**r, "language": "eu"} for r in rows]},
           config={"sources": [{"name": "a", "path": "a2.txt"}, {"name": "b", "path": "b.txt"}], "min_words": 3},
           libraries={"hubtool": "2"})
    code, out = cli("diff", tmp_path / "old", tmp_path / "new", "--json")
    [a] = out["artifacts"]
    assert a["schema_changes"] == [{"config": "default", "column": "language", "change": "added", "old_type": None,
                                    "new_type": "string"}]
    assert a["rows_total"]["added"] == a["rows_total"]["removed"] == 20  # every row has a new column
    assert {(c["field"], c["change"]) for c in a["provenance"]} == {("config.sources[a].path", "changed"),
                                                                     ("config.sources[b]", "added")}
    assert a["environment"] == [{"field": "libraries.hubtool", "change": "changed", "old": "1", "new": "2"}]


def test_a_json_line_without_a_key_equals_one_with_null(tmp_path):
    rows = [{"id": "1", "text": "bat", "note": None}, {"id": "2", "text": "bi", "note": "x"}]
    corpus(tmp_path / "old", {"train": rows})
    new = tmp_path / "new"
    (new / "data").mkdir(parents=True)
    with gzip.open(new / "data" / "train-00000-of-00001.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "1", "text": "bat"}) + "\n" + json.dumps(rows[1]) + "\n")
    write_provenance(new, Provenance.create(kind="corpus", name="c", language=["eu"],
                                            recipe=RecipeInfo(name="t", version="1"), libraries={"hubtool": "1"}))
    code, out = cli("diff", tmp_path / "old", new, "--json")
    assert code == 0 and out["artifacts"][0]["rows_total"]["kept"] == 2 and out["artifacts"][0]["status"] == "unchanged"


def test_row_hash_ignores_column_order_but_not_list_order():
    t = pa.Table.from_pylist([{"a": 1, "m": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
                              {"a": 1, "m": [{"role": "assistant", "content": "y"}, {"role": "user", "content": "x"}]}])
    h = row_hashes(t)
    assert h[0] != h[1]
    assert row_hashes(t.select(["m", "a"])).tolist() == h.tolist()
    assert row_hashes(t.slice(1)).tolist() == h[1:].tolist()


def test_row_set_partitions_again_when_one_partition_is_over_the_budget(tmp_path):
    import numpy as np

    # hashes sharing their top byte all land in one partition: it must be split by the next byte
    rng = np.random.default_rng(0)
    old = (rng.integers(0, 2**56, 5000, dtype=np.int64).astype(np.uint64)) | np.uint64(0x42 << 56)
    new = np.concatenate([old[:4000], old[:10]])
    with RowSetDiff(budget_bytes=4096, workdir=tmp_path) as d:
        d.add("g", "old", old)
        d.add("g", "new", new)
        counts, added, removed = d.compare("g", keep_hashes=2000)
    assert (counts.added, counts.removed, counts.kept) == (10, 1000, 4000)
    assert sorted(added.tolist()) == sorted(old[:10].tolist()) and len(removed) == 1000
    assert list(tmp_path.iterdir()) == []  # partitions removed


def _result(value, stderr=None):
    return EvalResult(task_type="translation", dataset_type="d", dataset_name="d", metric_type="bleu",
                      metric_value=value, metric_args={"stderr": stderr} if stderr else None)


def test_metric_labels():
    assert metric_delta(_result(10), _result(10.5), 1.96).label == "no error estimate"
    d = metric_delta(_result(10, 1.0), _result(13, 1.0), 1.96)  # 3 / sqrt(2) = 2.12 standard errors
    assert d.label == "beyond error" and d.stderr == pytest.approx(2 ** 0.5)
    assert d.z == pytest.approx(3 / 2 ** 0.5, abs=1e-4) and d.delta == 3
    assert metric_delta(_result(10, 1.0), _result(12, 1.0), 1.96).label == "within error"  # 1.41 standard errors
    assert metric_delta(_result(10, 1.0), _result(12, 1.0), 1.0).label == "beyond error"   # --z 1
    one_sided = metric_delta(_result(10, 1.0), _result(13), 1.96)  # one error known: it stands for both
    assert one_sided.stderr == pytest.approx(2 ** 0.5) and one_sided.label == "beyond error"
    assert metric_delta(None, _result(3), 1.96).label == "added"
    assert metric_delta(_result(3), None, 1.96).label == "removed"
    assert metric_delta(_result(3, 0.1), _result(3, 0.1), 1.96).label == "unchanged"


def test_usage_errors(tmp_path):
    corpus(tmp_path / "c", {"train": _rows(3, 2)})
    code, out = cli("diff", "v1.0", "v1.1")
    assert code == 2 and "--manifest" in out and "Traceback" not in out
    code, out = cli("diff", tmp_path / "c", tmp_path / "c", "--memory-budget", "lots")
    assert code == 2 and "256MiB" in out
    code, out = cli("diff", tmp_path / "c", tmp_path / "c", "--memory-budget", "10")
    assert code == 2 and "at least 1024 bytes" in out
    code, out = cli("diff", tmp_path / "c", tmp_path / "nope")
    assert code == 2 and "not a folder, a manifest or a Hub repo id" in out


def test_the_documented_json_schema_is_current_and_describes_the_output(tmp_path):
    from hub_tools.publish.diff.model import DiffResult, diff_json_schema

    path = Path(__file__).resolve().parent.parent / "docs" / "diff.schema.json"
    assert json.loads(path.read_text()) == diff_json_schema()  # python -m hub_tools.publish.diff.model rewrites it
    corpus(tmp_path / "a", {"train": _rows(5, 3)})
    corpus(tmp_path / "b", {"train": _rows(6, 3)})
    code, out = cli("diff", tmp_path / "a", tmp_path / "b", "--json")
    assert code == 0
    assert DiffResult.model_validate(out).model_dump(mode="json") == out  # nothing outside the schema
