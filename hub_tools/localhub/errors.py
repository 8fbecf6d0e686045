"""Errors raised by the local hub, shaped like the Hub's so that clients raise their usual exceptions."""
from __future__ import annotations


class HubError(Exception):
    """An error answered as JSON ``{"error": message}`` with ``X-Error-Code``/``X-Error-Message`` headers.

    ``code`` is one of the Hub's error codes the client maps to exception classes
    (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) or None.
    """

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.commit = commit  # sent as X-Repo-Commit, e.g. for a missing file at a known commit


def repo_not_found(repo_id: str) -> HubError:
    return HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def entry_not_found(path: str, commit: str | None = None) -> HubError:
    return HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=commit)


def bad_request(message: str) -> HubError:
    return HubError(400, message)
