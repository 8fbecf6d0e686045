"""One side of a diff: an artifact as a local folder, or as a Hub repo at a revision.

A Hub side is resolved to its commit, its file tree is listed (content ids: LFS sha256 or git blob
id, nothing downloaded), and only what is compared by content is downloaded with the Hub client at
that commit: README.md, hubtool.json and, for datasets, the data files (to the Hugging Face cache,
on disk). A local side reads its folder; in a release manifest, the licence, languages and
evaluation results come from the manifest as `hubtool release` would publish them.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from hub_tools.artifacts.datalayout import DATA_SUFFIXES
from hub_tools.artifacts.frontmatter import front_matter
from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, ArtifactSpec, Manifest
from hub_tools.artifacts.provenance import PROVENANCE_FILE
from hub_tools.errors import HubtoolError

log = logging.getLogger(__name__)
SKIP_DIRS = {".git", ".hubtool", "__pycache__", ".cache"}


class DiffError(HubtoolError):
    """A side of a diff that cannot be read."""


@dataclass(frozen=True)
class FileId:
    """A file's content identity: sha256 (local files, LFS files on the Hub) and/or git blob id."""

    size: int
    sha256: str | None = None
    git: str | None = None

    def same_as(self, other: "FileId") -> bool:
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256
        if self.git and other.git:
            return self.git == other.git
        return False


@dataclass
class Side:
    """What one side of a comparison holds. ``folder`` is None for an artifact absent on that side."""

    label: str
    kind: str | None = None
    repo_type: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    folder: Path | None = None
    files: dict[str, FileId] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    card: dict[str, Any] = field(default_factory=dict)  # licence, languages (as the card would publish them)
    eval_results: list | None = None

    @property
    def present(self) -> bool:
        return self.folder is not None

    def describe(self) -> dict[str, Any]:
        return {"ref": self.label, "repo_id": self.repo_id, "repo_type": self.repo_type, "revision": self.revision,
                "commit": self.commit, "local": self.repo_id is None and self.present, "present": self.present}


def local_file_id(path: Path) -> FileId:
    size = path.stat().st_size
    sha, git = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
            git.update(block)
    return FileId(size, sha.hexdigest(), git.hexdigest())


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError as err:
        raise DiffError(f"{path.name} is not valid JSON: {err}", where=str(path)) from None


def _card_of_readme(folder: Path, kind: str | None) -> tuple[dict[str, Any], list | None]:
    """(licence and languages, evaluation results) from a README.md's YAML header, if there is one."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}, None
    text = readme.read_text(encoding="utf-8")
    try:
        meta = front_matter(text) or {}
    except ValueError:
        return {}, None
    evals = None
    if kind in ("model", "adapter"):
        from huggingface_hub import ModelCard

        evals = ModelCard(text).data.eval_results or []
    languages = meta.get("language")
    return {"license": meta.get("license"),
            "languages": [languages] if isinstance(languages, str) else languages}, evals


def local_side(folder: str | Path, label: str | None = None, manifest: Manifest | None = None,
               art: ArtifactSpec | None = None) -> Side:
    """A local artifact folder; with a manifest, the card metadata the release would publish."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DiffError(f"{folder} is not an artifact folder", fix="name a folder holding hubtool.json, a "
                        "release manifest, a Hub repo (datasets/org/name@rev) or a tag with --manifest")
    prov = _read_json(folder / PROVENANCE_FILE)
    kind = (art.kind if art else None) or (prov or {}).get("kind")
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not (set(rel.parts[:-1]) & SKIP_DIRS) and not rel.name.startswith(".~"):
            files[rel.as_posix()] = local_file_id(p)
    side = Side(label=label or str(folder), kind=kind, repo_type=REPO_TYPE_OF_KIND.get(kind or ""), folder=folder,
                files=files, provenance=prov)
    if manifest is not None and art is not None:
        from hub_tools.publish.cards import load_eval_results

        card_fields = {**(prov or {}).get("card", {}), **art.card}
        side.card = {"license": card_fields.get("license", manifest.license), "languages": manifest.languages}
        side.eval_results = load_eval_results(manifest.base_dir / art.eval_results) if art.eval_results else (
            [] if kind in ("model", "adapter") else None)
    else:
        side.card, side.eval_results = _card_of_readme(folder, kind)
        if not side.card and prov:
            side.card = {"license": prov.get("card", {}).get("license"), "languages": prov.get("language")}
    return side


def _patterns(kind: str | None) -> list[str]:
    base = ["README.md", PROVENANCE_FILE]
    if kind in (None, "corpus", "instructions", "preferences", "eval"):
        base += [f"*{s}" for s in DATA_SUFFIXES]
    return base


def hub_side(api: HfApi, repo_id: str, repo_type: str, revision: str, cache_dir: str | Path | None = None,
             label: str | None = None, missing_ok: bool = False) -> Side:
    """A Hub repo at a revision (a tag, branch or commit). With ``missing_ok``, an absent repo or revision
    gives an absent side (an artifact added or removed between releases) instead of an error."""
    label = label or f"{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}@{revision}"
    try:
        info = api.repo_info(repo_id, repo_type=repo_type, revision=revision)
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        if missing_ok:
            return Side(label=label, repo_type=repo_type, repo_id=repo_id, revision=revision)
        what = "repo" if isinstance(err, RepositoryNotFoundError) else "revision"
        raise DiffError(f"{repo_type} {repo_id}: {what} {revision if what == 'revision' else ''} not found on "
                        f"{api.endpoint}".replace("  ", " "), where=label,
                        fix="check the name and the revision (`hf` lists refs), or the endpoint (--endpoint)") from None
    commit = info.sha
    files = {}
    for entry in api.list_repo_tree(repo_id, repo_type=repo_type, revision=commit, recursive=True):
        if hasattr(entry, "blob_id") and hasattr(entry, "size"):
            files[entry.path] = FileId(entry.size, entry.lfs.sha256 if entry.lfs else None,
                                       None if entry.lfs else entry.blob_id)
    try:
        prov_path = None
        if PROVENANCE_FILE in files:
            from huggingface_hub import hf_hub_download

            prov_path = Path(hf_hub_download(repo_id, PROVENANCE_FILE, repo_type=repo_type, revision=commit,
                                             cache_dir=cache_dir))
        prov = _read_json(prov_path) if prov_path else None
        kind = (prov or {}).get("kind")
        folder = Path(snapshot_download(repo_id, repo_type=repo_type, revision=commit, cache_dir=cache_dir,
                                        allow_patterns=_patterns(kind)))
    except (HfHubHTTPError, EntryNotFoundError) as err:
        raise DiffError(f"cannot download {label} from {api.endpoint}: {err}", where=label) from None
    side = Side(label=label, kind=kind, repo_type=repo_type, repo_id=repo_id, revision=revision, commit=commit,
                folder=folder, files=files, provenance=prov)
    side.card, side.eval_results = _card_of_readme(folder, kind)
    return side
