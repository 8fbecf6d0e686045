"""The result of `hubtool diff`: what `--json` prints and the card's "Changes since" section reads.

The JSON schema (docs/diff.schema.json) is generated from these classes; ``schema_version`` changes
when a field changes meaning or goes away (new fields may be added).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
MetricLabel = Literal["unchanged", "within error", "beyond error", "no error estimate", "added", "removed"]


class SideInfo(BaseModel):
    ref: str = Field(description="The side as named: a local path or [type/]org/name@revision.")
    repo_id: str | None = None
    repo_type: str | None = None
    revision: str | None = Field(None, description="Tag, branch or commit as named.")
    commit: str | None = Field(None, description="The commit the revision resolved to (Hub sides).")
    local: bool = False
    present: bool = Field(True, description="False: the artifact does not exist on this side.")


class RowCounts(BaseModel):
    config: str
    split: str
    old_rows: int
    new_rows: int
    added: int
    removed: int
    kept: int


class RowExample(BaseModel):
    config: str
    split: str
    file: str = Field(description="Data file, relative to the artifact.")
    row: int = Field(description="0-based row in that file.")
    id: Any = Field(None, description="The row's `id` column (or the first column ending in `id`), if any.")
    preview: str = Field("", description="The start of the row's first text.")


class SchemaChange(BaseModel):
    config: str
    column: str
    change: Literal["added", "removed", "type"]
    old_type: str | None = None
    new_type: str | None = None


class FieldChange(BaseModel):
    field: str = Field(description="Dotted path, e.g. config.sources[books] or inputs[source:books].sha256.")
    change: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


class MetricDelta(BaseModel):
    task: str
    dataset: str
    split: str | None = None
    config: str | None = None
    metric: str
    old: float | None = None
    new: float | None = None
    delta: float | None = None
    old_stderr: float | None = None
    new_stderr: float | None = None
    stderr: float | None = Field(None, description="Standard error of the difference: sqrt(se_old² + se_new²).")
    z: float | None = Field(None, description="|delta| / stderr.")
    label: MetricLabel


class FileChange(BaseModel):
    path: str
    change: Literal["added", "removed", "changed"]
    old_size: int | None = None
    new_size: int | None = None


class MemoryUse(BaseModel):
    budget_bytes: int
    spilled: bool = Field(description="True when the row hashes went to disk partitions (budget exceeded).")
    peak_hash_bytes: int = Field(description="Most bytes of row hashes held in memory at once.")


class ArtifactDiff(BaseModel):
    name: str
    kind: str | None = None
    old: SideInfo
    new: SideInfo
    status: Literal["added", "removed", "changed", "unchanged"]
    rows: list[RowCounts] = Field(default_factory=list, description="Per config and split (datasets).")
    rows_total: RowCounts | None = Field(None, description="All configs and splits together (config/split '*').")
    examples_added: list[RowExample] = Field(default_factory=list)
    examples_removed: list[RowExample] = Field(default_factory=list)
    configs_added: list[str] = Field(default_factory=list)
    configs_removed: list[str] = Field(default_factory=list)
    schema_changes: list[SchemaChange] = Field(default_factory=list)
    provenance: list[FieldChange] = Field(default_factory=list,
                                          description="Recipe, config, inputs, lineage, seed, card fields.")
    card: list[FieldChange] = Field(default_factory=list, description="Licence and languages as published.")
    metrics: list[MetricDelta] = Field(default_factory=list)
    files: list[FileChange] = Field(default_factory=list, description="Files other than data, README.md, "
                                    "card images and hubtool.json (weights, tokenizer, configs, app files).")
    data_files_rewritten: list[str] = Field(default_factory=list,
                                            description="Data files whose bytes changed; their rows are in `rows`.")
    environment: list[FieldChange] = Field(default_factory=list, description="Library versions, Python, git "
                                           "commit: reported, but not a change of the artifact.")
    memory: MemoryUse | None = None


class DiffResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    old: str
    new: str
    endpoint: str | None = None
    changed: bool
    z: float = Field(description="A metric delta beyond z standard errors is labelled 'beyond error'.")
    artifacts: list[ArtifactDiff]


def diff_json_schema() -> dict:
    schema = DiffResult.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hubtool diff --json"
    return schema


def write_schema() -> None:
    """Rewrite docs/diff.schema.json (tests/test_diff.py checks it is current)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "docs" / "diff.schema.json"
    path.write_text(json.dumps(diff_json_schema(), indent=2) + "\n")


if __name__ == "__main__":
    write_schema()
