"""`hubtool release`: validate everything, push every artifact (one commit per repo revision), tag the
version only once every push succeeded, gather the repos in a collection, then verify.

Re-running a release is always safe: pushes are planned against the remote state, so finished
artifacts make no commit and upload nothing, and a release interrupted anywhere finishes the job.
Tags never move: a released version whose content changed must get a new version.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterator

from hub_tools.errors import HubtoolError
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hub_tools import __version__
from hub_tools.artifacts.provenance import read_provenance
from hub_tools.publish.cards import CardContext, context_for, render_card_files
from hub_tools.publish.diff.changes import changes_section
from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, ArtifactSpec, Manifest, tag_name
from hub_tools.artifacts.promote import choose
from hub_tools.publish.push import PublishError, explain_http_error, plan_push, push
from hub_tools.text.localpaths import current_user
from hub_tools.validate import local_path_findings, validate_manifest
from hub_tools.validate.findings import Report

log = logging.getLogger(__name__)
STATE_DIR = ".hubtool"


class ReleaseError(HubtoolError, RuntimeError):
    """A release that stopped; re-running the same command continues it (finished artifacts are skipped)."""


class ReleaseInvalid(ReleaseError):
    def __init__(self, report: Report):
        super().__init__(f"validation failed with {len(report.errors())} error(s); nothing was uploaded")
        self.report = report


def repo_url(endpoint: str, repo_type: str, repo_id: str, revision: str) -> str:
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{endpoint}/{prefix}{repo_id}/tree/{revision}"


@dataclass
class _Job:
    """One push of a release: an artifact to its branch, or a promoted variant to its repo's main."""

    name: str
    art: ArtifactSpec
    repo_id: str
    branch: str
    card: str
    files: dict[str, bytes] = field(default_factory=dict)  # the card's pictures


@dataclass
class ArtifactOutcome:
    name: str
    kind: str
    repo_id: str
    repo_type: str
    branch: str
    tag: str
    plan: dict
    commit: str | None = None
    head: str | None = None
    url: str = ""
    attempts: int = 0
    pull_request: dict | None = None  # with --create-pr: {num, url, merged}


@dataclass
class ReleaseResult:
    version: str
    endpoint: str
    dry_run: bool
    artifacts: list[ArtifactOutcome] = field(default_factory=list)
    tags_created: list[str] = field(default_factory=list)
    collection: str | None = None
    verify: list[dict] | None = None
    promoted: dict[str, dict] = field(default_factory=dict)

    @property
    def commits(self) -> int:
        return sum(1 for a in self.artifacts if a.commit)

    @property
    def open_pull_requests(self) -> list[str]:
        """URLs of pull requests this release opened and could not merge (a maintainer has to)."""
        return [a.pull_request["url"] for a in self.artifacts if a.pull_request and not a.pull_request["merged"]]

    def to_dict(self) -> dict:
        return {"version": self.version, "endpoint": self.endpoint, "dry_run": self.dry_run, "commits": self.commits,
                "tags_created": self.tags_created, "collection": self.collection, "promoted": self.promoted,
                "artifacts": [a.__dict__ for a in self.artifacts], "verify": self.verify,
                "verified": None if self.verify is None else all(v["ok"] for v in self.verify),
                "open_pull_requests": self.open_pull_requests}


@contextmanager
def release_lock(manifest: Manifest) -> Iterator[Path]:
    """One release of a manifest at a time (an flock next to the manifest; released if the process dies)."""
    state_dir = manifest.base_dir / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    path = state_dir / f"{manifest.source.stem if manifest.source else 'release'}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise ReleaseError(f"another release of {manifest.source} is running (pid {holder}); "
                               f"wait for it, or remove {path} if that process is gone") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)


def _selected(manifest: Manifest, only: set[str] | None) -> list[ArtifactSpec]:
    unknown = (only or set()) - {a.name for a in manifest.artifacts}
    if unknown:
        raise ReleaseError(f"--only names no artifact of the manifest: {', '.join(sorted(unknown))} "
                           f"(artifacts: {', '.join(a.name for a in manifest.artifacts)})")
    return [a for a in manifest.artifacts if not only or a.name in only]


def _existing_tag(api: HfApi, repo_id: str, repo_type: str, tag: str) -> str | None:
    """The commit ``tag`` points at; a refused tag listing stops the release before any upload (a tag that
    exists could not otherwise be told from one that does not)."""
    try:
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    except HfHubHTTPError as err:
        raise ReleaseError(f"could not list the tags of {repo_id} to check whether {tag} exists; nothing was "
                           f"pushed: {explain_http_error(err, repo_id, api.endpoint)}") from err
    return next((t.target_commit for t in refs.tags if t.name == tag), None)


def run_release(manifest: Manifest, api: HfApi, dry_run: bool = False, only: set[str] | None = None,
                verify: bool = True, on_step: Callable[[str], None] | None = None,
                retries: int = 4, backoff: float = 1.0, create_pr: bool = False) -> ReleaseResult:
    """With ``create_pr`` every change goes through a pull request, merged when the token may; if any stays
    open, the release stops before tagging (re-run it once they are merged: nothing is pushed twice)."""
    step = on_step or (lambda msg: log.info(msg))
    arts = _selected(manifest, only)
    report = validate_manifest(manifest, only={a.name for a in arts})
    if not report.ok():
        raise ReleaseInvalid(report)
    result = ReleaseResult(manifest.version, api.endpoint, dry_run)

    def job(name: str, art: ArtifactSpec, repo_id: str, branch: str, ctx: CardContext) -> _Job:
        ctx.sections["changes"] = changes_section(api, manifest, art, repo_id, branch)  # vs the previous tag
        card = render_card_files(manifest.artifact_path(art), ctx, report.statistics.get(art.name))
        return _Job(name, art, repo_id, branch, card.text, card.files)

    jobs = [job(a.name, a, manifest.repo_id(a), a.branch, context_for(manifest, a)) for a in arts]
    card_findings = [f for j in jobs for f in local_path_findings(j.card, "README.md (rendered card)", j.name,
                                                                  user=current_user())]
    if card_findings:  # a card must never publish where things sat on the build machine
        report.extend(card_findings)
        raise ReleaseInvalid(report)
    for rule in manifest.promote:  # the best variant of a model repo also becomes its main
        promo = choose(manifest, rule)
        if only and promo.winner.name not in only:
            continue
        ctx = context_for(manifest, promo.winner)
        ctx.revision = "main"
        ctx.fields["description"] = (f"`main` holds variant `{promo.winner.name}`, the best by {promo.metric}: "
                                     + ", ".join(f"{k} {v}" for k, v in sorted(promo.scores.items())) + ".")
        jobs.append(job(f"main <- {promo.winner.name}", promo.winner, promo.repo_id, "main", ctx))
        result.promoted[promo.repo_id] = {"variant": promo.winner.name, "metric": promo.metric,
                                          "scores": promo.scores}
    with release_lock(manifest) if not dry_run else nullcontext():
        plans: list = []
        for job in jobs:  # plan everything first: refuse before the first upload if a released version moved
            art, repo_type = job.art, REPO_TYPE_OF_KIND[job.art.kind]
            step(f"planning {job.name} -> {job.repo_id}@{job.branch}")
            try:
                plan = plan_push(api, manifest.artifact_path(art), job.repo_id, repo_type, job.branch, job.card,
                                 job.files)
            except HfHubHTTPError as err:
                raise ReleaseError(explain_http_error(err, job.repo_id, api.endpoint)) from err
            tag = tag_name(manifest.version, job.branch)
            tagged = _existing_tag(api, job.repo_id, repo_type, tag) if plan.repo_exists else None
            if tagged and not plan.empty:
                raise ReleaseError(f"{job.repo_id} already has tag {tag} and {job.name} changed since: tags never "
                                   f"move, so release the change under a new `version` (now {manifest.version})")
            plans.append(plan)
            result.artifacts.append(ArtifactOutcome(job.name, art.kind, job.repo_id, repo_type, job.branch, tag,
                                                    plan.to_dict(), url=repo_url(api.endpoint, repo_type, job.repo_id,
                                                                                 job.branch)))
        if dry_run:
            return result
        for job, outcome, plan in zip(jobs, result.artifacts, plans):
            art = job.art
            step(f"pushing {job.name} -> {outcome.repo_id}@{job.branch}")
            prov = read_provenance(manifest.artifact_path(art))
            description = (f"{art.name}: {art.kind} from recipe {prov.recipe.name} {prov.recipe.version}"
                           f"{', git ' + prov.git_commit[:12] if prov.git_commit else ''}; hubtool {__version__}")
            sdk = (art.card.get("sdk") or prov.card.get("sdk") or "gradio") if art.kind == "space" else None
            if create_pr:
                _propose(api, manifest, job, outcome, plan, description, step)
                continue
            try:
                pushed = push(api, manifest.artifact_path(art), outcome.repo_id, outcome.repo_type, job.branch,
                              message=f"hubtool release {manifest.version}: {job.name}", description=description,
                              private=art.private, space_sdk=sdk, card_text=job.card, retries=retries,
                              backoff=backoff, plan=plan, extra_files=job.files)
            except PublishError as err:
                done = [o.name for o in result.artifacts if o.head]
                raise ReleaseError(f"pushing {job.name} failed: {err} Pushed so far: {', '.join(done) or 'none'}; "
                                   "no version tag was created.") from err
            outcome.commit, outcome.head, outcome.attempts = pushed.commit, pushed.head, pushed.attempts
            outcome.plan = pushed.plan.to_dict()
        if result.open_pull_requests:
            step(f"waiting for {len(result.open_pull_requests)} pull request(s) to be merged; no tag created")
            _write_state(manifest, result)
            return result
        for outcome in result.artifacts:  # only now: every push of the release succeeded
            current = _existing_tag(api, outcome.repo_id, outcome.repo_type, outcome.tag)
            if current == outcome.head:
                continue
            if current is not None:
                raise ReleaseError(f"tag {outcome.tag} of {outcome.repo_id} points at {current[:10]}, "
                                   f"not at the released {outcome.head[:10]}; release under a new version")
            step(f"tagging {outcome.repo_id} {outcome.tag}")
            try:
                api.create_tag(outcome.repo_id, repo_type=outcome.repo_type, tag=outcome.tag, revision=outcome.head,
                               tag_message=f"hubtool release {manifest.version}")
            except HfHubHTTPError as err:
                raise ReleaseError(explain_http_error(err, outcome.repo_id, api.endpoint)) from err
            result.tags_created.append(f"{outcome.repo_id}@{outcome.tag}")
        if manifest.collection is not None:
            result.collection = _update_collection(api, manifest, result)
        _write_state(manifest, result)
    if verify:
        from hub_tools.publish.verify import verify_release

        step("verifying from the Hub")
        result.verify = [c.__dict__ for c in verify_release(manifest, api, only=only)]
    return result


def _propose(api: HfApi, manifest: Manifest, job: _Job, outcome: ArtifactOutcome, plan, description: str,
             step: Callable[[str], None]) -> None:
    from hub_tools.publish.pull_request import propose

    step(f"opening a pull request: {job.name} -> {outcome.repo_id}@{job.branch}")
    try:
        pr = propose(api, plan, manifest.artifact_path(job.art), f"hubtool release {manifest.version}: {job.name}",
                     description, job.card, extra_files=job.files)
    except PublishError as err:
        raise ReleaseError(f"proposing {job.name} failed: {err} No version tag was created.") from err
    outcome.attempts = 1
    if pr.num is not None:
        outcome.pull_request = {"num": pr.num, "url": pr.url, "merged": pr.merged, "superseded": list(pr.superseded)}
    if pr.num is None or pr.merged:
        outcome.head, outcome.commit = pr.head, (pr.head if pr.merged else None)


def _update_collection(api: HfApi, manifest: Manifest, result: ReleaseResult) -> str:
    coll = manifest.collection
    assert coll is not None
    collection = api.create_collection(coll.title, namespace=manifest.namespace, description=coll.description,
                                       private=coll.private, exists_ok=True)
    present = {(i.item_type, i.item_id) for i in collection.items}
    notes: dict[tuple[str, str], list[str]] = {}
    for o in result.artifacts:
        notes.setdefault((o.repo_type, o.repo_id), []).append(o.name if o.branch == "main" else f"{o.name} ({o.tag})")
    for (repo_type, repo_id), names in notes.items():
        if (repo_type, repo_id) not in present:
            api.add_collection_item(collection.slug, item_id=repo_id, item_type=repo_type,
                                    note=f"{manifest.version}: {', '.join(names)}", exists_ok=True)
    return collection.slug


def _write_state(manifest: Manifest, result: ReleaseResult) -> None:
    path = manifest.base_dir / STATE_DIR / f"{manifest.source.stem if manifest.source else 'release'}.state.json"
    path.write_text(json.dumps({k: v for k, v in result.to_dict().items() if k != "verify"}, indent=2) + "\n")


__all__ = ["ReleaseError", "ReleaseInvalid", "ReleaseResult", "PublishError", "run_release", "tag_name"]
