"""`hubtool verify`: read every published artifact back the way the community would, from a fresh
cache, at the released tag (or the branch when no tag exists yet), and compare with the local artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import DatasetCard, HfApi, ModelCard, SpaceCard, hf_hub_download, snapshot_download

from hub_tools.artifacts.provenance import DATASET_KINDS, file_identity
from hub_tools.artifacts.datalayout import discover_layout, file_format
from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, ArtifactSpec, Manifest, tag_name

log = logging.getLogger(__name__)


@dataclass
class VerifyCheck:
    artifact: str
    repo: str
    revision: str
    check: str
    ok: bool
    detail: str = ""


def rows_fingerprint(dataset) -> str:
    """Order-sensitive sha256 of a datasets.Dataset's rows (canonical JSON per row)."""
    h = hashlib.sha256()
    for batch in dataset.iter(batch_size=1000):
        keys = sorted(batch)
        for i in range(len(batch[keys[0]]) if keys else 0):
            h.update(json.dumps({k: batch[k][i] for k in keys}, sort_keys=True, default=str,
                                ensure_ascii=False).encode())
            h.update(b"\n")
    return h.hexdigest()


def released_revision(api: HfApi, repo_id: str, repo_type: str, tag: str, branch: str) -> str:
    try:
        tags = {t.name for t in api.list_repo_refs(repo_id, repo_type=repo_type).tags}
    except Exception:
        return branch
    return tag if tag in tags else branch


def verify_release(manifest: Manifest, api: HfApi, only: set[str] | None = None) -> list[VerifyCheck]:

    checks: list[VerifyCheck] = []
    with tempfile.TemporaryDirectory(prefix="hubtool-verify-") as cache:
        for art in manifest.artifacts:
            if only and art.name not in only:
                continue
            repo_id, repo_type = manifest.repo_id(art), REPO_TYPE_OF_KIND[art.kind]
            rev = released_revision(api, repo_id, repo_type, tag_name(manifest.version, art.branch), art.branch)
            add = lambda check, ok, detail="": checks.append(  # noqa: E731
                VerifyCheck(art.name, repo_id, rev, check, bool(ok), detail))
            try:
                _verify_card(api, manifest, art, repo_id, repo_type, rev, cache, add)
                if art.kind in DATASET_KINDS:
                    _verify_dataset(manifest, art, repo_id, rev, cache, add)
                elif art.kind in ("model", "adapter"):
                    _verify_model(api, manifest, art, repo_id, rev, cache, add)
                else:
                    _verify_space(manifest, art, repo_id, rev, cache, add)
            except Exception as err:  # anything the community would hit is a failed check, not a crash
                add("readable from the Hub", False, f"{type(err).__name__}: {err}"[:500])
        for rule in manifest.promote:
            _verify_promotion(api, manifest, rule, only, cache, checks)
    return checks


def _verify_promotion(api, manifest: Manifest, rule, only, cache: str, checks: list[VerifyCheck]) -> None:
    """`main` of a promoted repo, at the version tag, holds exactly the winning variant's files."""
    from hub_tools.artifacts.promote import choose

    promo = choose(manifest, rule)
    if only and promo.winner.name not in only:
        return
    rev = released_revision(api, promo.repo_id, "model", manifest.version, "main")
    try:
        snap = Path(snapshot_download(promo.repo_id, revision=rev, cache_dir=cache))
        folder = manifest.artifact_path(promo.winner)
        differing = [p.name for p in folder.iterdir() if p.is_file() and p.name != "README.md"
                     and (not (snap / p.name).is_file() or file_identity(snap / p.name) != file_identity(p))]
        ok, detail = not differing, (f"main = {promo.winner.name} (best {promo.metric})" if not differing
                                     else f"differ from {promo.winner.name}: {', '.join(differing)}")
    except Exception as err:
        ok, detail = False, f"{type(err).__name__}: {err}"[:500]
    checks.append(VerifyCheck(f"main <- {promo.winner.name}", promo.repo_id, rev, "promoted variant on main", ok, detail))


def _verify_card(api, manifest, art, repo_id, repo_type, rev, cache, add) -> None:
    path = hf_hub_download(repo_id, "README.md", repo_type=repo_type, revision=rev, cache_dir=cache)
    card_cls = {"dataset": DatasetCard, "model": ModelCard, "space": SpaceCard}[repo_type]
    data = card_cls.load(path).data.to_dict()
    missing = [k for k in (("sdk", "title") if repo_type == "space" else ("license", "language")) if not data.get(k)]
    add("card metadata", not missing, f"missing: {', '.join(missing)}" if missing else "license, language present")


def _verify_dataset(manifest: Manifest, art: ArtifactSpec, repo_id: str, rev: str, cache: str, add) -> None:
    import datasets

    folder = manifest.artifact_path(art)
    layout = discover_layout(folder)
    for config, splits in layout.configs.items():
        for split, files in splits.items():
            remote = datasets.load_dataset(repo_id, config, split=split, revision=rev, cache_dir=cache)
            builder = "parquet" if file_format(files[0]) == "parquet" else "json"
            local = datasets.load_dataset(builder, data_files=[str(folder / f) for f in files], split="train",
                                          cache_dir=cache)
            same_rows = len(remote) == len(local)
            same = same_rows and rows_fingerprint(remote) == rows_fingerprint(local)
            add(f"load_dataset {config}/{split}", same,
                f"{len(remote)} rows, content identical" if same else
                f"{len(remote)} rows on the Hub vs {len(local)} local" if not same_rows else "content differs")


def _verify_model(api, manifest: Manifest, art: ArtifactSpec, repo_id: str, rev: str, cache: str, add) -> None:
    from transformers import AutoTokenizer

    from hub_tools.validate.model_checks import SMALL_MODEL_BYTES, generate_one_token

    folder = manifest.artifact_path(art)
    snap = Path(snapshot_download(repo_id, revision=rev, cache_dir=cache))
    local = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    differing = [rel for rel, p in local.items() if rel != "README.md"
                 and (not (snap / rel).is_file() or file_identity(snap / rel) != file_identity(p))]
    add("snapshot_download files", not differing,
        f"{len(local)} files identical" if not differing else f"differ: {', '.join(differing[:5])}")
    tokenizer = AutoTokenizer.from_pretrained(repo_id, revision=rev, cache_dir=cache)
    if art.chat:
        add("tokenizer + chat template", bool(tokenizer.chat_template),
            "chat template present" if tokenizer.chat_template else "no chat template")
    weights = sum(p.stat().st_size for rel, p in local.items() if rel.endswith(".safetensors"))
    if weights > SMALL_MODEL_BYTES:
        add("load + generate", True, f"skipped: {weights / 2**20:.0f} MiB of weights is over the small-model limit")
        return
    if art.kind == "adapter":
        base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
        base_art = next((a for a in manifest.artifacts if a.kind == "model" and manifest.repo_id(a) == base), None)
        base_rev = released_revision(api, base, "model", tag_name(manifest.version, base_art.branch),
                                     base_art.branch) if base_art else None
        text = generate_one_token(base, adapter=repo_id, chat=art.chat, model_revision=base_rev,
                                  adapter_revision=rev, cache_dir=cache)
    else:
        text = generate_one_token(repo_id, chat=art.chat, model_revision=rev, cache_dir=cache)
    add("load + generate", True, f"generated {text!r}")


def _verify_space(manifest: Manifest, art: ArtifactSpec, repo_id: str, rev: str, cache: str, add) -> None:
    snap = Path(snapshot_download(repo_id, repo_type="space", revision=rev, cache_dir=cache))
    meta = SpaceCard.load(snap / "README.md").data.to_dict()
    app = meta.get("app_file", "app.py")
    add("Space app file", (snap / app).is_file(), app)
    folder = manifest.artifact_path(art)
    differing = [p.name for p in folder.iterdir() if p.is_file() and p.name != "README.md"
                 and (not (snap / p.name).is_file() or file_identity(snap / p.name) != file_identity(p))]
    add("Space files", not differing, "identical" if not differing else f"differ: {', '.join(differing)}")
