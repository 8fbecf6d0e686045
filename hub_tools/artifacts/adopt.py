"""Adopting an artifact made by another tool (an axolotl or PEFT checkpoint, a dataset folder): write
the ``hubtool.json`` it lacks from what can be known: its kind, the fingerprints of its weight or data
files, and what its own metadata says (adapter_config.json, config.json, data columns, Space header).

Nothing is invented: the recipe is recorded as ``adopted:<tool>``, the config as the metadata read, and
values that are local paths are left out (with a note) rather than published.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hub_tools.artifacts.frontmatter import front_matter
from hub_tools.artifacts.infer import WEIGHT_SUFFIXES, data_files, first_columns, infer_kind
from hub_tools.artifacts.provenance import (
    DATASET_KINDS,
    PROVENANCE_FILE,
    Provenance,
    RecipeInfo,
    file_sha256,
    write_provenance,
)
from hub_tools.errors import HubtoolError, UsageProblem
from hub_tools.hub.names import InvalidName, check_name
from hub_tools.text.localpaths import has_local_path

ADAPTER_KEYS = ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias",
                "base_model_name_or_path", "revision")
MODEL_KEYS = ("architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "vocab_size", "max_position_embeddings", "torch_dtype", "_name_or_path")


class AdoptError(HubtoolError):
    pass


@dataclass
class Adopted:
    folder: Path
    kind: str
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)


def _is_repo_id(value: str) -> bool:
    parts = value.split("/")
    if len(parts) != 2:
        return False
    try:
        check_name(parts[0], "namespace")
        check_name(parts[1], "repo name")
    except InvalidName:
        return False
    return True


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AdoptError(f"{path.name} cannot be read: {err}", where=str(path),
                         fix="repair the file, or adopt the folder with another --kind") from None
    return data if isinstance(data, dict) else {}


def _clean(metadata: dict, notes: list[str], source: str) -> dict:
    """The metadata without values that are local paths (each left out is noted)."""
    out = {}
    for key, value in metadata.items():
        if isinstance(value, str) and (has_local_path(value) or Path(value).is_absolute()):
            notes.append(f"{source}: {key} is a local path and was not recorded")
            continue
        out[key] = value
    return out


def _metadata(folder: Path, kind: str, notes: list[str]) -> dict:
    if kind == "adapter":
        cfg = _json(folder / "adapter_config.json")
        return _clean({k: cfg[k] for k in ADAPTER_KEYS if k in cfg}, notes, "adapter_config.json")
    if kind == "model":
        cfg = _json(folder / "config.json")
        return _clean({k: cfg[k] for k in MODEL_KEYS if k in cfg}, notes, "config.json")
    if kind == "space":
        readme = folder / "README.md"
        try:
            meta = front_matter(readme.read_text(encoding="utf-8")) if readme.is_file() else None
        except ValueError:
            meta = None
        return _clean(meta or {}, notes, "README.md")
    files = data_files(folder)
    return {"data_files": [p.relative_to(folder).as_posix() for p in files],
            "columns": sorted(first_columns(files[0])) if files else []}


def content_files(folder: Path, kind: str) -> list[Path]:
    """The files whose bytes are the artifact (weights, data, app code); metadata JSON may still be fixed."""
    if kind in DATASET_KINDS:
        return data_files(folder)
    if kind == "space":
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in ("README.md", PROVENANCE_FILE)
                      and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def adopt(folder: str | Path, kind: str | None = None, name: str | None = None, languages: list[str] | None = None,
          tool: str = "unknown", tool_version: str = "unknown", base_model: str | None = None,
          force: bool = False) -> Adopted:
    """Write ``folder/hubtool.json`` for an artifact made elsewhere. ``base_model`` (an adapter's Hub base id)
    is also written into adapter_config.json."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageProblem(f"{folder} is not a folder", fix="pass the artifact folder")
    if (folder / PROVENANCE_FILE).is_file() and not force:
        raise AdoptError(f"{folder} already has {PROVENANCE_FILE}", where=str(folder / PROVENANCE_FILE),
                         fix="it is not foreign; pass --force to replace the record")
    inferred, why = infer_kind(folder)
    kind = kind or inferred
    if kind is None:
        raise UsageProblem(f"the kind of {folder} cannot be told from its files ({why})",
                           fix="pass --kind (corpus, instructions, preferences, eval, model, adapter, space)")
    notes: list[str] = []
    if base_model is not None:
        if kind != "adapter":
            raise UsageProblem("--base-model is for adapters", fix="drop --base-model, or pass --kind adapter")
        if not _is_repo_id(base_model):
            raise UsageProblem(f"--base-model {base_model!r} is not a Hub repo id", fix="give org/name")
        cfg_path = folder / "adapter_config.json"
        cfg = _json(cfg_path)
        old = cfg.get("base_model_name_or_path")
        cfg["base_model_name_or_path"] = base_model
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        notes.append(f"adapter_config.json: base_model_name_or_path set to {base_model} (was "
                     f"{'a local path' if isinstance(old, str) and has_local_path(old) else repr(old)})")
    metadata = _metadata(folder, kind, notes)
    files = {p.relative_to(folder).as_posix(): file_sha256(p) for p in content_files(folder, kind)}
    card = {}
    base = metadata.get("base_model_name_or_path")
    if kind == "adapter" and isinstance(base, str) and _is_repo_id(base):
        card = {"base_model": base, "base_model_relation": "adapter"}
    prov = Provenance.create(kind=kind, name=name or folder.resolve().name, language=languages or [],
                             recipe=RecipeInfo(name=f"adopted:{tool}", version=tool_version),
                             config={"adopted_from": tool, "metadata": metadata}, git_commit=None, libraries={},
                             statistics={"files": files, "adoption_notes": notes}, card=card)
    prov.finish()
    write_provenance(folder, prov)
    return Adopted(folder, kind, files, notes)
