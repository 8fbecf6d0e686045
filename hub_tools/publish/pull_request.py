"""Publishing through a pull request (`hubtool release --create-pr`): for organisations where the token may
only open pull requests, or where changes are reviewed before they land.

The plan of a push becomes one commit on a new pull request against the artifact's branch; an older open
pull request of this token with the same title is closed as superseded, so re-running leaves one open
pull request per artifact and version, always with the current content. The pull request is then merged
when the token may merge; otherwise it stays open for a maintainer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from hub_tools.publish.push import PublishError, PushPlan, _local_files, explain_http_error


@dataclass
class ProposedChange:
    num: int | None      # None: nothing to propose, the branch already equals the folder
    url: str | None
    merged: bool
    head: str | None     # the branch's commit after a merge (or as it was, when nothing changed)
    superseded: tuple[int, ...] = ()


def propose(api: HfApi, plan: PushPlan, folder: Path, title: str, description: str,
            card_text: str | None = None, merge: bool = True,
            extra_files: dict[str, bytes] | None = None) -> ProposedChange:
    """Open (or reuse) a pull request with the plan's changes against ``plan.revision``, and merge it if allowed."""
    repo_id, repo_type, branch = plan.repo_id, plan.repo_type, plan.revision
    if plan.empty:
        return ProposedChange(None, None, False, plan.head)
    if not plan.repo_exists or not plan.branch_exists:
        raise PublishError(f"{repo_id}@{branch} does not exist yet: a pull request targets an existing branch. "
                           "Ask a maintainer to create it, or release without --create-pr with a token that may "
                           "write.")
    try:
        num, url, superseded = _open(api, plan, folder, title, description, card_text, extra_files)
        if not merge:
            return ProposedChange(num, url, False, None, superseded)
        try:
            api.merge_pull_request(repo_id, num, repo_type=repo_type, comment=f"Merged by hubtool: {title}")
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code == 403:
                return ProposedChange(num, url, False, None, superseded)  # a maintainer merges it
            raise
        head = api.repo_info(repo_id, repo_type=repo_type, revision=branch).sha
        return ProposedChange(num, url, True, head, superseded)
    except HfHubHTTPError as err:
        raise PublishError(explain_http_error(err, repo_id, api.endpoint)) from err


def _open(api: HfApi, plan: PushPlan, folder: Path, title: str, description: str,
          card_text: str | None, extra_files: dict[str, bytes] | None = None) -> tuple[int, str, tuple[int, ...]]:
    local = _local_files(folder, card_text, extra_files)
    ops: list = [CommitOperationAdd(c.path, local[c.path]) for c in plan.to_upload]
    ops += [CommitOperationDelete(c.path) for c in plan.to_remove]
    info = api.create_commit(plan.repo_id, repo_type=plan.repo_type, revision=plan.revision, operations=ops,
                             commit_message=title, commit_description=description, create_pr=True,
                             parent_commit=plan.head)
    if info.pr_num is None or info.pr_url is None:
        raise PublishError(f"{plan.repo_id}: the Hub opened no pull request for {title!r}")
    me = api.whoami()["name"]
    superseded = []
    for d in api.get_repo_discussions(plan.repo_id, repo_type=plan.repo_type, author=me,
                                      discussion_type="pull_request"):
        if d.num != info.pr_num and d.title == title and d.status in ("open", "draft"):
            api.change_discussion_status(plan.repo_id, d.num, "closed", repo_type=plan.repo_type,
                                         comment=f"Superseded by #{info.pr_num}")
            superseded.append(d.num)
    return info.pr_num, info.pr_url, tuple(superseded)
