"""What every route handler needs: the store, the token registry, and who may see or write a repo."""
from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from hub_tools.localhub.auth import TokenRegistry, User
from hub_tools.localhub.errors import HubError, repo_not_found
from hub_tools.localhub.model import Repo
from hub_tools.localhub.storage import HubStore


@dataclass
class Ticket:
    """An LFS upload link handed out by the batch endpoint: which object, for which repo, until when."""

    repo_id: int
    oid: str
    size: int
    expires: float


@dataclass
class HubContext:
    store: HubStore
    tokens: TokenRegistry
    tickets: dict[str, Ticket] = field(default_factory=dict)
    # test hooks: what was written since start (GET /api/_localhub/stats with --enable-fault-injection)
    counters: dict[str, int] = field(default_factory=lambda: {"commits": 0, "lfs_bytes": 0, "regular_bytes": 0,
                                                              "lfs_uploads": 0})

    def user(self, request: Request) -> User | None:
        return self.tokens.authenticate(request.headers.get("authorization"))

    def writer(self, request: Request, namespace: str) -> User:
        user = self.user(request)
        if user is None:
            raise HubError(401, "Authentication required: send a token with write access "
                                "(HF_TOKEN or `hf auth login`)")
        if not user.can_access(namespace):
            raise HubError(403, f"{user.name} may not write to the namespace {namespace!r}")
        return user

    @staticmethod
    def can_read(repo: Repo, user: User | None) -> bool:
        return not repo.private or (user is not None and user.can_read(repo.namespace))

    def repo(self, request: Request, rtype: str, ns: str, name: str, write: bool = False) -> tuple[Repo, User | None]:
        """The repo ``ns/name`` (any case) if the caller may see it, else 404 RepoNotFound, exactly as if it did
        not exist; with ``write``, 401/403 unless the caller may also write to it."""
        user = self.user(request)
        repo = self.store.get_repo(rtype, ns, name)
        if repo is None or not self.can_read(repo, user):
            raise repo_not_found(f"{ns}/{name}")
        if write:
            user = self.writer(request, repo.namespace)
        return repo, user

    def contributor(self, request: Request, rtype: str, ns: str, name: str) -> tuple[Repo, User]:
        """A repo the caller may read, with a token: enough to open pull requests and discussions, comment,
        and upload LFS objects for them (refs other than the caller's own pull requests stay write-only)."""
        repo, user = self.repo(request, rtype, ns, name)
        if user is None:
            raise HubError(401, "Authentication required: send a token (HF_TOKEN or `hf auth login`)")
        return repo, user
