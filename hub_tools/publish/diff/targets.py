"""What OLD and NEW of `hubtool diff` name, and which artifact pairs that makes.

- a release manifest (a YAML file): the release's artifacts as local folders, with the licence and
  evaluation results `hubtool release` would publish;
- a bare tag such as ``v1.0``: with a manifest (``--manifest``, or the other side being one), every
  artifact of the manifest at its release tag on the Hub (``v1.0`` on main, ``v1.0-<branch>`` on a
  variant branch); else the other side's repo at that revision;
- a Hub repo ``[datasets/|spaces/|models/]org/name[@revision]`` (revision: a tag, branch or commit;
  default main);
- a local artifact folder.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi

from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, Manifest, load_manifest, tag_name
from hub_tools.errors import UsageProblem
from hub_tools.publish.diff.compare import compare_artifact
from hub_tools.publish.diff.model import DiffResult
from hub_tools.publish.diff.sides import Side, hub_side, local_side

_TYPES = {"datasets": "dataset", "spaces": "space", "models": "model"}
_HUB_REF = re.compile(r"^(?:(datasets|spaces|models)/)?([\w.-]+/[\w.-]+)(?:@(.+))?$")


@dataclass
class Options:
    budget_bytes: int = 256 << 20
    show_rows: int = 10
    z: float = 1.96
    cache_dir: str | None = None
    workdir: str | None = None


@dataclass(frozen=True)
class HubRef:
    repo_type: str | None  # None: not said (probed)
    repo_id: str
    revision: str


def parse_hub_ref(ref: str) -> HubRef | None:
    m = _HUB_REF.match(ref)
    if not m:
        return None
    return HubRef(_TYPES.get(m.group(1) or "", None), m.group(2), m.group(3) or "main")


def _is_manifest(ref: str) -> bool:
    p = Path(ref)
    return p.is_file() and p.suffix in (".yaml", ".yml")


def _is_bare_revision(ref: str) -> bool:
    return "/" not in ref and not Path(ref).exists()


def _probe_type(api: HfApi, repo_id: str) -> str:
    found = [t for t in ("model", "dataset", "space") if api.repo_exists(repo_id, repo_type=t)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageProblem(f"{repo_id} is not a model, dataset or Space repo on {api.endpoint}",
                           fix="check the name; prefix datasets/ or spaces/ to say the type")
    raise UsageProblem(f"{repo_id} exists as {' and '.join(found)} repos on {api.endpoint}",
                       fix=f"say which: datasets/{repo_id} or spaces/{repo_id} (models: models/{repo_id})")


def _release_sides(ref: str, manifest: Manifest, api: Callable[[], HfApi], opts: Options) -> dict[str, Side]:
    """The artifacts of ``manifest`` on one side: local folders (ref is the manifest) or Hub tags."""
    out: dict[str, Side] = {}
    local = _is_manifest(ref)
    for art in manifest.artifacts:
        if local:
            folder = manifest.artifact_path(art)
            out[art.name] = local_side(folder, f"{ref}:{art.name}", manifest, art) if folder.is_dir() else \
                Side(label=f"{ref}:{art.name}", kind=art.kind)
        else:
            repo_type = REPO_TYPE_OF_KIND[art.kind]
            out[art.name] = hub_side(api(), manifest.repo_id(art), repo_type, tag_name(ref, art.branch),
                                     opts.cache_dir, missing_ok=True)
    return out


def _artifact_side(ref: str, other: str, api: Callable[[], HfApi], opts: Options, repo: str | None) -> Side:
    if Path(ref).is_dir():
        return local_side(ref)
    if _is_bare_revision(ref):
        base = repo or (other if not Path(other).exists() and "/" in other else None)
        parsed = parse_hub_ref(base) if base else None
        if parsed is None:
            raise UsageProblem(f"{ref!r} is neither a folder nor a Hub repo, and nothing says which repo it is a "
                               "revision of", fix="name the repo (datasets/org/name@rev), pass --repo, or pass "
                               "--manifest release.yaml to compare whole releases by tag")
        parsed = HubRef(parsed.repo_type, parsed.repo_id, ref)
    else:
        parsed = parse_hub_ref(ref)
        if parsed is None:
            raise UsageProblem(f"{ref!r} is not a folder, a manifest or a Hub repo id",
                               fix="use a path, release.yaml, or [datasets/|spaces/]org/name[@revision]")
    client = api()
    repo_type = parsed.repo_type or _probe_type(client, parsed.repo_id)
    return hub_side(client, parsed.repo_id, repo_type, parsed.revision, opts.cache_dir)


def diff_refs(old: str, new: str, api: Callable[[], HfApi], manifest_path: str | Path | None = None,
              repo: str | None = None, only: set[str] | None = None, opts: Options | None = None,
              endpoint: str | None = None) -> DiffResult:
    """Compare what ``old`` and ``new`` name (see the module docstring). ``api`` is called only when a Hub
    side is needed, so a diff of two local folders never starts a hub."""
    opts = opts or Options()
    manifests = {ref: load_manifest(ref) for ref in (old, new) if _is_manifest(ref)}
    context = load_manifest(manifest_path) if manifest_path else None
    pairs: list[tuple[str, Side, Side]] = []
    if manifests or context is not None:
        sides = {}
        for ref in (old, new):
            m = manifests.get(ref) or context or next(iter(manifests.values()))
            if not _is_manifest(ref) and not _is_bare_revision(ref):
                raise UsageProblem(f"comparing releases: {ref!r} must be a release manifest or a tag such as v1.0")
            sides[ref] = _release_sides(ref, m, api, opts)
        names = list(sides[old]) + [n for n in sides[new] if n not in sides[old]]
        unknown = (only or set()) - set(names)
        if unknown:
            raise UsageProblem(f"--only names no artifact of the release: {', '.join(sorted(unknown))}",
                               fix=f"artifacts: {', '.join(names)}")
        for name in names:
            if only and name not in only:
                continue
            a = sides[old].get(name) or Side(label=f"{old}:{name}")
            b = sides[new].get(name) or Side(label=f"{new}:{name}")
            pairs.append((name, a, b))
    else:
        a = _artifact_side(old, new, api, opts, repo)
        b = _artifact_side(new, old, api, opts, repo)
        name = (b.repo_id or a.repo_id or Path(new).name)
        pairs.append((name, a, b))
    artifacts = [compare_artifact(name, a, b, opts.budget_bytes, opts.show_rows, opts.z, opts.workdir)
                 for name, a, b in pairs]
    return DiffResult(old=old, new=new, endpoint=endpoint, changed=any(d.status != "unchanged" for d in artifacts),
                      z=opts.z, artifacts=artifacts)
