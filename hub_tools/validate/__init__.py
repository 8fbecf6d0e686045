"""`hubtool validate`: everything that would break for the community, found before anything is pushed.

Entry points: :func:`validate_path` (a manifest or an artifact folder), :func:`validate_manifest`,
:func:`validate_artifact`. Codes and hints: :data:`findings.CODES` and docs/validation.md.
"""
from __future__ import annotations

import re
from pathlib import Path

from hub_tools.artifacts.infer import infer_kind
from hub_tools.artifacts.licenses import HUB_LICENSES
from hub_tools.artifacts.manifest import (
    REPO_TYPE_OF_KIND,
    ArtifactSpec,
    Manifest,
    ManifestError,
    ValidationSettings,
    load_manifest,
)
from hub_tools.artifacts.provenance import (
    DATASET_KINDS,
    MODEL_KINDS,
    PROVENANCE_FILE,
    ProvenanceError,
    read_provenance,
)
from hub_tools.hub.names import InvalidName, check_name, check_ref_name
from hub_tools.text.localpaths import current_user, find_local_paths
from hub_tools.validate.dataset_checks import SECRET_PATTERNS, check_dataset
from hub_tools.validate.findings import CODES, Finding, Report
from hub_tools.validate.model_checks import check_model
from hub_tools.validate.space_checks import check_space

__all__ = ["CODES", "Finding", "Report", "validate_artifact", "validate_manifest", "validate_path"]
_LANG = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def validate_artifact(folder: str | Path, kind: str | None = None, languages: list[str] | None = None,
                      settings: ValidationSettings | None = None, name: str | None = None, chat: bool = True,
                      base_model_path: Path | None = None, card_fields: dict | None = None) -> Report:
    folder = Path(folder)
    report = Report()
    name = name or folder.name
    settings = settings or ValidationSettings()
    if not folder.is_dir():
        report.add(Finding("HT003", f"artifact folder {folder} does not exist", file=str(folder), artifact=name))
        return report
    try:
        prov = read_provenance(folder)
    except ProvenanceError as err:
        prov = None
        message = err.message
        if kind is None and err.field is None and not (folder / PROVENANCE_FILE).is_file():
            kind, why = infer_kind(folder)  # made by another tool: check everything else anyway
            message += (f"; checked as {kind!r} (from {why}); `hubtool adopt {folder} --kind {kind}` writes one"
                        if kind else f"; its kind cannot be told from the files ({why}): pass --kind")
        report.add(Finding("HT001", message, file=PROVENANCE_FILE, field=err.field, artifact=name))
    if prov is not None and kind is not None and prov.kind != kind:
        report.add(Finding("HT002", f"hubtool.json says kind {prov.kind!r}, the manifest {kind!r}",
                           file=PROVENANCE_FILE, field="kind", artifact=name))
    kind = kind or (prov.kind if prov else None)
    if kind is None:
        return report  # nothing more can be checked without knowing what this is
    languages = languages if languages is not None else (prov.language if prov else [])
    report.extend(metadata_findings(folder, name))
    if kind in DATASET_KINDS:
        findings, stats = check_dataset(folder, kind, languages, settings, artifact=name)
    elif kind in MODEL_KINDS:
        findings, stats = check_model(folder, kind, artifact=name, chat=chat, base_model_path=base_model_path)
    else:
        findings, stats = check_space(folder, artifact=name,
                                      card_fields={**(prov.card if prov else {}), **(card_fields or {})})
    report.extend(findings)
    report.statistics[name] = stats
    return report


def metadata_findings(folder: Path, name: str) -> list[Finding]:
    """Secrets (HT110), local paths and the user name in hubtool.json (HT004, always published) and in a
    README.md already in the folder (HT005: hubtool renders its own card, whose paths the release checks)."""
    out: list[Finding] = []
    user = current_user()
    for meta_file in (PROVENANCE_FILE, "README.md"):
        path = folder / meta_file
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for label, rx in SECRET_PATTERNS.items():
            m = rx.search(text)
            if m:
                line = text.count("\n", 0, m.start()) + 1
                out.append(Finding("HT110", f"{label} in {meta_file} at line {line}", file=meta_file, line=line,
                                   artifact=name))
        out += local_path_findings(text, meta_file, name, "HT004" if meta_file == PROVENANCE_FILE else "HT005", user)
    return out


def local_path_findings(text: str, file: str, name: str | None, code: str = "HT004",
                        user: str | None = None) -> list[Finding]:
    """Local paths and the build machine's user name in ``text`` (at most 5 findings, then a count)."""
    found = find_local_paths(text, user)
    return [Finding(code, f"{file} holds the local {hit.what} {hit.text!r}"
                    + (f" (and {len(found) - 5} more)" if len(found) > 5 and i == 4 else ""),
                    file=file, line=hit.line, artifact=name) for i, hit in enumerate(found[:5])]


def release_checks(manifest: Manifest) -> list[Finding]:
    """Checks of the manifest as a whole: repo ids, collisions, licence and languages."""
    out: list[Finding] = []
    src = str(manifest.source.name) if manifest.source else "release.yaml"

    def add(code: str, message: str, *loc) -> None:
        out.append(Finding(code, message, file=src, line=manifest.line_of(*loc),
                           field=".".join(str(x) for x in loc) or None))

    if not manifest.license:
        add("HT404", "no licence: set `license` (a Hub licence id such as apache-2.0)", "license")
    elif manifest.license not in HUB_LICENSES:
        add("HT405", f"licence {manifest.license!r} is not a Hub licence id (use e.g. apache-2.0, cc-by-4.0, other)",
            "license")
    if not manifest.languages:
        add("HT404", "no languages: set `languages` (ISO 639-1 codes, e.g. [eu])", "languages")
    for i, code in enumerate(manifest.languages):
        if not _LANG.match(code):
            add("HT405", f"language {code!r} is not an ISO 639 code", "languages", i)
    try:
        check_ref_name(manifest.version, "tag")
    except InvalidName as err:
        add("HT401", str(err), "version")
    seen: dict[tuple[str, str, str], str] = {}
    names: set[str] = set()
    for i, art in enumerate(manifest.artifacts):
        if art.name in names:
            add("HT401", f"two artifacts are named {art.name!r}", "artifacts", i, "name")
        names.add(art.name)
        repo_id = manifest.repo_id(art)
        parts = repo_id.split("/")
        try:
            if len(parts) != 2:
                raise InvalidName(f"{repo_id!r} is not org/name")
            check_name(parts[0], "namespace")
            check_name(parts[1], "repo name")
        except InvalidName as err:
            add("HT402", str(err), "artifacts", i, "repo")
        try:
            check_ref_name(art.branch, "branch")
        except InvalidName as err:
            add("HT401", str(err), "artifacts", i, "branch")
        key = (REPO_TYPE_OF_KIND[art.kind], repo_id, art.branch)
        if key in seen:
            add("HT403", f"{art.name!r} and {seen[key]!r} both publish to {repo_id}@{art.branch}",
                "artifacts", i, "branch")
        seen[key] = art.name
        if not manifest.artifact_path(art).is_dir():
            add("HT003", f"{art.name}: {manifest.artifact_path(art)} does not exist", "artifacts", i, "path")
        if art.eval_results and not (manifest.base_dir / art.eval_results).is_file():
            add("HT003", f"{art.name}: eval results {art.eval_results} do not exist", "artifacts", i, "eval_results")
    from hub_tools.artifacts.promote import PromoteError, choose

    promoted: dict[str, int] = {}
    for i, rule in enumerate(manifest.promote):
        repo_id = manifest.full_repo_id(rule.repo)
        if repo_id in promoted:  # two rules would both write the repo's main
            add("HT401", f"promote: rules {promoted[repo_id]} and {i} both choose the main of {repo_id}: keep one",
                "promote", i)
            continue
        promoted[repo_id] = i
        try:
            choose(manifest, rule)
        except (PromoteError, OSError, ValueError, KeyError) as err:
            add("HT401", str(err), "promote", i)
    return out


def base_model_path_for(manifest: Manifest, art: ArtifactSpec) -> Path | None:
    """A local copy of an adapter's base: its ``base_model_path``, or the release's model artifact it names."""
    if art.base_model_path:
        return (manifest.base_dir / art.base_model_path).resolve()
    cfg = manifest.artifact_path(art) / "adapter_config.json"
    if not cfg.is_file():
        return None
    import json

    try:
        base = json.loads(cfg.read_text()).get("base_model_name_or_path")
    except ValueError:
        return None
    for other in manifest.artifacts:
        if other.kind == "model" and manifest.repo_id(other) == base:
            return manifest.artifact_path(other)
    return None


def validate_manifest(manifest: Manifest, only: set[str] | None = None) -> Report:
    report = Report()
    report.extend(release_checks(manifest))
    for art in manifest.artifacts:
        if only and art.name not in only:
            continue
        path = manifest.artifact_path(art)
        if not path.is_dir():
            continue  # HT003 already reported
        sub = validate_artifact(path, kind=art.kind, languages=manifest.languages, settings=manifest.validation_for(art),
                                name=art.name, chat=art.chat, base_model_path=base_model_path_for(manifest, art),
                                card_fields=art.card)
        report.extend(sub.findings)
        report.statistics.update(sub.statistics)
    from hub_tools.validate.overlap import check_release_overlap

    report.extend(check_release_overlap(manifest, report.statistics))  # evaluation sets vs training data
    return report


def validate_path(path: str | Path, kind: str | None = None) -> tuple[Report, Manifest | None]:
    """Validate a release manifest (a file) or one artifact folder (a directory)."""
    path = Path(path)
    if path.is_dir():
        return validate_artifact(path, kind=kind), None
    try:
        manifest = load_manifest(path)
    except ManifestError as err:
        report = Report()
        for issue in err.issues:
            report.add(Finding("HT401", issue.message, file=path.name, line=issue.line, field=issue.field))
        return report, None
    return validate_manifest(manifest), manifest
