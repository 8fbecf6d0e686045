"""The artifact contract: a folder holding exactly what gets published, plus ``hubtool.json``, the
provenance that cards are rendered from (nobody types numbers into cards).

Recipes and users' own scripts write it with :func:`write_provenance`::

    prov = Provenance.create(kind="corpus", name="eu-corpus", language=["eu"],
                             recipe=RecipeInfo(name="corpus", version="1.0"), config=cfg, seed=33)
    prov.statistics = {...}
    write_provenance(folder, prov)

The JSON schema is in docs/provenance.schema.json (generated from :class:`Provenance`).

**Identity.** Run-time facts (``started_at``, ``finished_at``, ``wall_time_s``, ``runtime``: timings, host)
and facts of the build environment (``libraries``, ``python``, ``git_commit``, ``build``: the stage
fingerprint) are recorded but are not part of what the artifact *is*: :func:`provenance_identity` leaves
them out, so a rebuilt, byte-identical artifact has the same identity and re-releases as a no-op.
``SOURCE_DATE_EPOCH`` (reproducible-builds convention), when set, replaces the clock in the timestamps.
"""
from __future__ import annotations

import hashlib
import json
import os
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


class BuildRecord(_Strict):
    """How `hubtool build` made this artifact: the stage of the manifest and its fingerprint (config, inputs and
    recipe code); a rebuild whose fingerprint is unchanged is skipped."""

    stage: str = Field(description="Name of the artifact (or stage) in the release manifest.")
    recipe: str = Field(description="Recipe the manifest names, e.g. corpus, synth, train.")
    config: str | None = Field(default=None, description="Recipe config file, relative to the manifest.")
    fingerprint: str = Field(description="sha256 of the resolved config, the input identities and the recipe code.")


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
    runtime: dict[str, Any] = Field(default_factory=dict, description="Run-time facts (timings, throughput): "
                                    "recorded, but not part of the artifact's identity.")
    build: BuildRecord | None = Field(default=None, description="Set by `hubtool build`: the manifest stage.")

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
    """The current time (UTC, seconds), or ``SOURCE_DATE_EPOCH`` when that is set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc).isoformat(timespec="seconds")
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# Recorded, but not what the artifact is (see the module docstring).
NOT_IDENTITY = ("started_at", "finished_at", "wall_time_s", "runtime", "libraries", "python", "git_commit", "build")


def provenance_identity(data: dict) -> str:
    """sha256 of a hubtool.json's content without run-time and environment facts (canonical JSON)."""
    kept = {k: v for k, v in data.items() if k not in NOT_IDENTITY}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def file_identity(path: str | Path) -> str:
    """What a published file *is*: hubtool.json by :func:`provenance_identity`, any other file by its bytes."""
    path = Path(path)
    if path.name == PROVENANCE_FILE:
        try:
            return "provenance:" + provenance_identity(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError, AttributeError):
            pass
    return file_sha256(path)


def bytes_identity(name: str, data: bytes) -> str:
    """:func:`file_identity` of content held in memory."""
    if Path(name).name == PROVENANCE_FILE:
        try:
            return "provenance:" + provenance_identity(json.loads(data.decode("utf-8")))
        except (ValueError, UnicodeDecodeError, AttributeError):
            pass
    return hashlib.sha256(data).hexdigest()


def folder_identity(folder: str | Path, skip: tuple[str, ...] = ("README.md",)) -> str:
    """The content identity of an artifact folder: every file's :func:`file_identity` by relative path
    (README.md left out: it is rendered from the rest). Equal for a byte-identical rebuild."""
    folder = Path(folder)
    h = hashlib.sha256()
    if folder.is_file():
        h.update(file_identity(folder).encode())
        return h.hexdigest()
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if not p.is_file() or rel in skip or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        h.update(rel.encode() + b"\0" + file_identity(p).encode() + b"\n")
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The commit of the checkout hubtool runs from (``cwd``: another checkout); None outside one."""
    cwd = cwd or Path(__file__).resolve().parent
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
