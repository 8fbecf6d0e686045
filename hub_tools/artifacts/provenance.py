"""The artifact contract: a folder holding exactly what gets published, plus ``hubtool.json``, the
provenance that cards are rendered from (nobody types numbers into cards).

Recipes and users' own scripts write it with :func:`write_provenance`::

    prov = Provenance.create(kind="corpus", name="eu-corpus", language=["eu"],
                             recipe=RecipeInfo(name="corpus", version="1.0"), config=cfg, seed=33)
    prov.statistics = {...}
    write_provenance(folder, prov)

The JSON schema is in docs/provenance.schema.json (generated from :class:`Provenance`).
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from hub_tools.errors import HubtoolError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROVENANCE_FILE = "hubtool.json"
SCHEMA_VERSION = 1
DATASET_KINDS = ("corpus", "instructions", "preferences", "eval")
MODEL_KINDS = ("model", "adapter")
ArtifactKind = Literal["corpus", "instructions", "preferences", "eval", "model", "adapter", "space"]
TRACKED_LIBRARIES = ("hubtool", "huggingface_hub", "datasets", "transformers", "peft", "trl", "torch",
                     "accelerate", "datatrove", "vllm", "evaluate", "gradio")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipeInfo(_Strict):
    name: str = Field(description="Recipe that produced the artifact, e.g. 'corpus' or 'user-script'.")
    version: str = Field(description="Version of the recipe (or of the script).")


class InputFingerprint(_Strict):
    """What went in, so that a rerun can tell whether its inputs changed."""

    name: str = Field(description="Role of the input, e.g. 'source:wiki' or 'base_model'.")
    ref: str = Field(description="Local path or Hub id of the input.")
    revision: str | None = Field(default=None, description="Hub revision (commit sha preferred).")
    sha256: str | None = Field(default=None, description="Content hash of the input file(s).")
    rows: int | None = Field(default=None, description="Rows or documents read.")


class LineageStep(_Strict):
    """One step between source datasets and this artifact (filter, subset, translation, ...)."""

    step: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class SourceDataset(_Strict):
    id: str = Field(description="Hub id (org/name) of a dataset this one derives from.")
    revision: str | None = None


class Provenance(_Strict):
    """Contents of hubtool.json."""

    schema_version: int = SCHEMA_VERSION
    kind: ArtifactKind
    name: str
    language: list[str] = Field(default_factory=list, description="ISO 639-1 codes, e.g. ['eu'].")
    recipe: RecipeInfo
    config: dict[str, Any] = Field(default_factory=dict, description="The full resolved config.")
    inputs: list[InputFingerprint] = Field(default_factory=list)
    source_datasets: list[SourceDataset] = Field(default_factory=list)
    lineage: list[LineageStep] = Field(default_factory=list)
    libraries: dict[str, str] = Field(default_factory=dict)
    python: str = ""
    git_commit: str | None = None
    seed: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_time_s: float | None = None
    statistics: dict[str, Any] = Field(default_factory=dict, description="Figures computed by the recipe.")
    card: dict[str, Any] = Field(default_factory=dict, description="Extra card fields (tags, citation, ...).")

    @classmethod
    def create(cls, **fields: Any) -> "Provenance":
        """A provenance with library versions, Python version, git commit and start time filled in."""
        fields.setdefault("libraries", library_versions())
        fields.setdefault("python", platform.python_version())
        fields.setdefault("git_commit", git_commit())
        fields.setdefault("started_at", now_iso())
        return cls(**fields)

    def finish(self) -> None:
        self.finished_at = now_iso()
        if self.started_at:
            start = datetime.fromisoformat(self.started_at)
            self.wall_time_s = round((datetime.fromisoformat(self.finished_at) - start).total_seconds(), 3)


def file_sha256(path: str | Path) -> str:
    """Content fingerprint of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def write_provenance(folder: str | Path, prov: Provenance) -> Path:
    path = Path(folder) / PROVENANCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(prov.model_dump_json(indent=2, exclude_none=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


class ProvenanceError(HubtoolError, ValueError):
    def __init__(self, path: Path, field: str | None, message: str):
        super().__init__(f"{path}{':' + field if field else ''}: {message}")
        self.path, self.field, self.message = path, field, message


def read_provenance(folder: str | Path) -> Provenance:
    """Read and check ``hubtool.json``; :class:`ProvenanceError` says which field is wrong."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        raise ProvenanceError(path, None, f"missing: every artifact folder needs {PROVENANCE_FILE} "
                                          "(write it with hub_tools.artifacts.provenance.write_provenance)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ProvenanceError(path, None, f"not valid JSON: {err}") from None
    try:
        return Provenance.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ProvenanceError(path, field, first["msg"]) from None


def provenance_json_schema() -> dict:
    schema = Provenance.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hubtool artifact provenance (hubtool.json)"
    return schema
