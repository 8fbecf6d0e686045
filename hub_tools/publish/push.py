"""Pushing one artifact folder to one repo revision: plan, then one commit.

The plan compares local content hashes with the remote tree (sha256 for LFS files, git blob ids for
regular files), so unchanged files are never uploaded again and a push with nothing to change makes
no commit. The repo ends up equal to the folder: remote files the folder lacks are deleted (except
.gitattributes). A failed attempt is retried with backoff on RETRY_STATUSES (the list docs/releasing.md
gives), a 412 (stale parent) and network errors, by planning again: if the lost answer was a commit that
did land, the new plan is empty and nothing is repeated.

Hashes come from :mod:`hub_tools.artifacts.filehash` (remembered by path, size, mtime, ctime and inode, and
usually already computed by validation), and the sha256 is handed to the Hub client, so an unchanged file
is not read at all and a changed one is read once more only to be uploaded.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_tools.errors import HubtoolError
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from hub_tools.artifacts.filehash import file_hashes, git_blob_id

log = logging.getLogger(__name__)
KEEP_REMOTE = {".gitattributes"}
SKIP_LOCAL_DIRS = {".git", ".hubtool", "__pycache__", ".cache"}
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


@dataclass
class FileChange:
    path: str
    action: str  # add | change | remove | unchanged
    size: int


@dataclass
class PushPlan:
    repo_id: str
    repo_type: str
    revision: str
    repo_exists: bool
    branch_exists: bool
    head: str | None
    changes: list[FileChange] = field(default_factory=list)

    @property
    def to_upload(self) -> list[FileChange]:
        return [c for c in self.changes if c.action in ("add", "change")]

    @property
    def to_remove(self) -> list[FileChange]:
        return [c for c in self.changes if c.action == "remove"]

    @property
    def empty(self) -> bool:
        return self.repo_exists and self.branch_exists and not self.to_upload and not self.to_remove

    def summary(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "remove": 0, "unchanged": 0}
        for c in self.changes:
            out[c.action] += 1
        out["upload_bytes"] = sum(c.size for c in self.to_upload)
        return out

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "changes"}, "summary": self.summary(),
                "changes": [asdict(c) for c in self.changes if c.action != "unchanged"]}


class PublishError(HubtoolError, RuntimeError):
    """A Hub refusal explained for people: what failed, and what to do."""


def explain_http_error(err: HfHubHTTPError, repo_id: str, endpoint: str) -> str:
    status = err.response.status_code if err.response is not None else None
    server = (err.server_message or "").strip() if hasattr(err, "server_message") else ""
    detail = f" (the Hub said: {server})" if server else ""
    if status == 401:
        return (f"{endpoint} refused the token for {repo_id}{detail}. Check HF_TOKEN or run `hf auth login`; "
                "for the local hub, the admin token is in its data dir (admin-token).")
    if status == 403:
        return f"the token may not write to {repo_id}{detail}: use a token of the namespace owner or an org member."
    if status == 404 or isinstance(err, RepositoryNotFoundError):
        return f"{repo_id} was not found on {endpoint}{detail}."
    if status == 409:
        return f"conflict on {repo_id}{detail}: it already exists in another form, or a tag/branch is taken."
    if status == 412:
        return f"{repo_id} changed while pushing{detail}: run the command again."
    return f"{endpoint} answered {status} for {repo_id}{detail}."


def _local_files(folder: Path, card_text: str | None,
                 extra_files: dict[str, bytes] | None = None) -> dict[str, bytes | Path]:
    files: dict[str, bytes | Path] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not (set(rel.parts[:-1]) & SKIP_LOCAL_DIRS) and not rel.name.startswith(".~"):
            files[rel.as_posix()] = p
    if card_text is not None:
        files["README.md"] = card_text.encode("utf-8")
    files.update(extra_files or {})  # generated with the card (its pictures), held in memory like it
    return files


def _hashes(source: bytes | Path) -> tuple[int, str]:
    """(size, sha256); for files from the hash cache when the file is unchanged since it was last hashed."""
    if isinstance(source, bytes):
        return len(source), hashlib.sha256(source).hexdigest()
    h = file_hashes(source)
    return h.size, h.sha256


def _git_blob_id(source: bytes | Path) -> str:
    """The git blob sha1 (what the Hub lists for a file stored without LFS)."""
    if isinstance(source, bytes):
        return hashlib.sha1(b"blob %d\0" % len(source) + source).hexdigest()
    return git_blob_id(source)


def plan_push(api: HfApi, folder: Path, repo_id: str, repo_type: str, revision: str = "main",
              card_text: str | None = None, extra_files: dict[str, bytes] | None = None) -> PushPlan:
    """What a push would change, read-only."""
    repo_exists = branch_exists = True
    head = None
    remote: dict = {}
    try:
        info = api.repo_info(repo_id, repo_type=repo_type, revision=revision)
        head = info.sha
        remote = {f.path: f for f in api.list_repo_tree(repo_id, repo_type=repo_type, revision=head, recursive=True)
                  if hasattr(f, "size") and hasattr(f, "blob_id")}
    except RepositoryNotFoundError:
        repo_exists = branch_exists = False
    except RevisionNotFoundError:
        branch_exists = False
    plan = PushPlan(repo_id, repo_type, revision, repo_exists, branch_exists, head)
    local = _local_files(folder, card_text, extra_files)
    for path, source in local.items():
        size, sha256 = _hashes(source)
        r = remote.get(path)
        if r is None:
            plan.changes.append(FileChange(path, "add", size))
        elif r.size == size and (r.lfs.sha256 == sha256 if r.lfs else r.blob_id == _git_blob_id(source)):
            plan.changes.append(FileChange(path, "unchanged", size))
        else:
            plan.changes.append(FileChange(path, "change", size))
    for path, r in remote.items():
        if path not in local and path not in KEEP_REMOTE:
            plan.changes.append(FileChange(path, "remove", r.size))
    return plan


def execute_push(api: HfApi, plan: PushPlan, folder: Path, message: str, description: str = "",
                 private: bool = False, space_sdk: str | None = None, card_text: str | None = None,
                 extra_files: dict[str, bytes] | None = None) -> str | None:
    """Apply a plan as one commit. Returns the commit sha, or None if there was nothing to do."""
    if not plan.repo_exists:
        api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True,
                        space_sdk=space_sdk if plan.repo_type == "space" else None)
    if not plan.branch_exists and plan.revision != "main":
        api.create_branch(plan.repo_id, repo_type=plan.repo_type, branch=plan.revision, exist_ok=True)
    if plan.empty:
        return None
    local = _local_files(folder, card_text, extra_files)
    ops: list = [_add_operation(c.path, local[c.path]) for c in plan.to_upload]
    ops += [CommitOperationDelete(c.path) for c in plan.to_remove]
    if not ops:
        return None
    info = api.create_commit(plan.repo_id, repo_type=plan.repo_type, revision=plan.revision, operations=ops,
                             commit_message=message, commit_description=description,
                             parent_commit=plan.head if plan.branch_exists else None)
    return info.oid


def _add_operation(path: str, source: bytes | Path) -> CommitOperationAdd:
    """An upload whose sha256 the client does not compute again when the hash cache knows it."""
    op = CommitOperationAdd(path, source)
    if isinstance(source, Path) and not op.upload_info.is_hashed:
        op.upload_info.sha256 = bytes.fromhex(file_hashes(source).sha256)
    return op


def is_transient(err: BaseException) -> bool:
    import httpx2

    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return err.response.status_code in RETRY_STATUSES
    return isinstance(err, (httpx2.TransportError, ConnectionError, TimeoutError))


@dataclass
class PushResult:
    plan: PushPlan
    commit: str | None  # None: nothing changed
    head: str           # the revision's commit after the push
    attempts: int


def push(api: HfApi, folder: Path, repo_id: str, repo_type: str, revision: str, message: str,
         description: str = "", private: bool = False, space_sdk: str | None = None, card_text: str | None = None,
         retries: int = 4, backoff: float = 1.0, plan: PushPlan | None = None,
         extra_files: dict[str, bytes] | None = None) -> PushResult:
    """Plan and push with bounded retries; safe to call again after any failure.

    ``plan``, when the caller already made one, is used for the first attempt instead of hashing every
    file again; if the branch moved since, the commit's parent check answers 412 and the retry re-plans."""
    attempt = 0
    while True:
        attempt += 1
        try:
            if attempt > 1 or plan is None:
                plan = plan_push(api, folder, repo_id, repo_type, revision, card_text, extra_files)
            commit = execute_push(api, plan, folder, message, description, private, space_sdk, card_text,
                                  extra_files)
            head = commit or api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha
            return PushResult(plan, commit, head, attempt)
        except Exception as err:
            status = err.response.status_code if isinstance(err, HfHubHTTPError) and err.response is not None else None
            if (is_transient(err) or status == 412) and attempt <= retries:
                delay = backoff * 2 ** (attempt - 1)
                log.warning("%s@%s: %s; planning again in %.1fs (retry %d/%d)", repo_id, revision,
                            f"HTTP {status}" if status else type(err).__name__, delay, attempt, retries)
                time.sleep(delay)
                continue
            if isinstance(err, HfHubHTTPError):
                raise PublishError(explain_http_error(err, repo_id, api.endpoint)) from err
            raise
