"""The card's "Changes since <previous tag>" section: what `hubtool release` compares before it writes a card.

The previous release of a repo revision is the newest release tag on that branch's history other than
the version being released: ``<version>`` tags on main, ``<version>-<branch>`` tags on a variant
branch. Re-running a release finds the same previous tag, so the section (and the card) is the same.
"""
from __future__ import annotations

import logging
from typing import Any

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, ArtifactSpec, Manifest, tag_name
from hub_tools.errors import HubtoolError
from hub_tools.publish.diff.compare import compare_artifact
from hub_tools.publish.diff.sides import hub_side, local_side

log = logging.getLogger(__name__)
Z = 1.96


def previous_tag(api: HfApi, repo_id: str, repo_type: str, branch: str, current: str) -> str | None:
    """The newest release tag on ``branch``'s history other than ``current`` (None: a first release)."""
    try:
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
        commits = api.list_repo_commits(repo_id, repo_type=repo_type, revision=branch)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return None
    others = {b.name for b in refs.branches if b.name != branch}

    def of_branch(tag: str) -> bool:
        if branch != "main":
            return tag.endswith(f"-{branch}")
        return not any(tag.endswith(f"-{b}") for b in others)

    by_commit: dict[str, list[str]] = {}
    for t in refs.tags:
        if t.name != current and of_branch(t.name):
            by_commit.setdefault(t.target_commit, []).append(t.name)
    for c in commits:  # newest first
        if c.commit_id in by_commit:
            return sorted(by_commit[c.commit_id])[-1]
    return None


def changes_section(api: HfApi, manifest: Manifest, art: ArtifactSpec, repo_id: str, branch: str,
                    budget_bytes: int = 256 << 20) -> dict[str, Any] | None:
    """The section's data: {previous, url, z, diff}; None for a first release, or when the previous
    release cannot be read (the card is then written without the section, and a warning logged)."""
    repo_type = REPO_TYPE_OF_KIND[art.kind]
    try:
        prev = previous_tag(api, repo_id, repo_type, branch, tag_name(manifest.version, branch))
        if prev is None:
            return None
        old = hub_side(api, repo_id, repo_type, prev)
        new = local_side(manifest.artifact_path(art), f"{manifest.version} (this release)", manifest, art)
        diff = compare_artifact(art.name, old, new, budget_bytes=budget_bytes, show_rows=0, z_threshold=Z)
    except (HfHubHTTPError, HubtoolError, OSError) as err:
        log.warning("%s@%s: no 'Changes since' section (%s)", repo_id, branch, err)
        return None
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return {"previous": prev, "url": f"/{prefix}{repo_id}/tree/{prev}", "z": Z,
            "diff": diff.model_dump(mode="json")}
