"""Findings of `hubtool validate` (hub_tools/validate/findings.py): severity and hint from the code table,
where a finding points, what fails a release with and without --strict, and the cap on findings per check
and file (a file with thousands of bad rows gives `max_findings_per_check` findings and one summary)."""
from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from hub_tools.artifacts.manifest import ValidationSettings
from hub_tools.validate import validate_artifact
from hub_tools.validate.findings import Finding, Limiter, Report

TRAIN = "data/train-00000-of-00001.parquet"


def test_severity_and_hint_come_from_the_code_unless_given():
    dup = Finding("HT106", "duplicate")
    assert (dup.severity, dup.hint) == ("warning", "deduplicate (the corpus recipe does it)")
    empty = Finding("HT105", "empty")
    assert (empty.severity, empty.hint) == ("error", "drop the row or fill it")
    own = Finding("HT106", "duplicate", severity="error", hint="drop it")
    assert (own.severity, own.hint) == ("error", "drop it")


def test_location_names_file_line_row_and_field():
    assert Finding("HT109", "m", file="data/a.jsonl", line=3, field="text").location == "data/a.jsonl:line 3:text"
    assert Finding("HT105", "m", file="data/a.parquet", row=0, field="text").location == "data/a.parquet:row 0:text"
    assert Finding("HT401", "m", file="release.yaml", line=7).location == "release.yaml:line 7"
    assert Finding("HT113", "m", file="data/").location == "data/"
    assert Finding("HT404", "m", field="license").location == "license"
    assert Finding("HT404", "m").location == "-"
    assert Finding("HT105", "m", file="data/a.parquet", row=4, field="text").to_dict() == {
        "code": "HT105", "message": "m", "file": "data/a.parquet", "row": 4, "field": "text", "severity": "error",
        "hint": "drop the row or fill it", "location": "data/a.parquet:row 4:text"}


def test_warnings_fail_only_under_strict():
    report = Report()
    assert report.ok() and report.ok(strict=True)
    report.add(Finding("HT106", "duplicate"))
    assert report.ok() and report.errors() == []
    assert not report.ok(strict=True) and [f.code for f in report.errors(strict=True)] == ["HT106"]
    report.extend([Finding("HT105", "empty"), Finding("HT111", "e-mail")])
    assert not report.ok() and [f.code for f in report.errors()] == ["HT105"]
    assert [f.code for f in report.errors(strict=True)] == ["HT106", "HT105", "HT111"]


def test_limiter_counts_per_code_and_file():
    limiter = Limiter(2)
    assert [limiter.allow("HT105", "a") for _ in range(5)] == [True, True, False, False, False]
    assert [limiter.allow("HT105", "b") for _ in range(2)] == [True, True]   # another file: its own cap
    assert [limiter.allow("HT106", "a") for _ in range(3)] == [True, True, False]  # another code too
    assert limiter.allow("HT109", "c")  # below the cap: no summary either
    summaries = limiter.summaries("corpus")
    assert [(f.code, f.file, f.artifact, f.message) for f in summaries] == [
        ("HT105", "a", "corpus", "... and 3 more of HT105 in this file"),
        ("HT106", "a", "corpus", "... and 1 more of HT106 in this file")]  # b reached the cap, c stayed below


def _corpus(release, tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(release.parent / "corpus", folder)
    return folder


def test_a_file_with_many_bad_rows_gives_the_cap_and_a_summary(release, tmp_path):
    """7 empty rows and 6 copies of an earlier row, at most 3 findings per check and file: the first 3 of each,
    then '... and 4 more' / '... and 3 more'."""
    folder = _corpus(release, tmp_path)
    rows = pq.read_table(folder / TRAIN).to_pylist()
    empty = [3, 5, 8, 13, 21, 22, 30]
    copies = [40, 41, 42, 43, 44, 45]
    for i in empty:
        rows[i]["text"] = " "
    for i in copies:
        rows[i]["text"] = rows[1]["text"]
    pq.write_table(pa.Table.from_pylist(rows), folder / TRAIN)
    report = validate_artifact(folder, settings=ValidationSettings(max_findings_per_check=3), name="corpus")
    by_code = {code: [f for f in report.findings if f.code == code] for code in ("HT105", "HT106")}
    assert [f.row for f in by_code["HT105"][:3]] == empty[:3]
    assert [f.row for f in by_code["HT106"][:3]] == copies[:3]
    assert [(f.message, f.file, f.row) for f in by_code["HT105"][3:]] == [
        ("... and 4 more of HT105 in this file", TRAIN, None)]
    assert [(f.message, f.file, f.row) for f in by_code["HT106"][3:]] == [
        ("... and 3 more of HT106 in this file", TRAIN, None)]
    assert not report.ok()  # HT105 is an error; the summaries keep their code's severity
    assert {f.severity for f in by_code["HT105"]} == {"error"} and {f.severity for f in by_code["HT106"]} == {"warning"}


def test_exactly_the_cap_needs_no_summary(release, tmp_path):
    folder = _corpus(release, tmp_path)
    rows = pq.read_table(folder / TRAIN).to_pylist()
    for i in (3, 5, 8):
        rows[i]["text"] = ""
    pq.write_table(pa.Table.from_pylist(rows), folder / TRAIN)
    report = validate_artifact(folder, settings=ValidationSettings(max_findings_per_check=3), name="corpus")
    assert [(f.code, f.row) for f in report.findings] == [("HT105", 3), ("HT105", 5), ("HT105", 8)]
