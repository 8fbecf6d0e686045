"""Who may do what on the local hub.

Tokens come from the server's configuration: a single admin token (``--token``) and/or a users
file (YAML or JSON)::

    users:
      - name: alice
        token_sha256: 5e88...   # or `token: hf_...` (plain; keep the file private)
        orgs: [hitz]            # role "write" in hitz
      - name: carol
        token: hf_carol_token
        orgs: [{name: hitz, role: read}]   # reads hitz's private repos, opens pull requests, cannot push
      - name: ci
        token: hf_ci_token
        admin: true             # may write to every namespace

A user may read private repos and write repos in its own namespace and in its orgs with role "write"
(the default); with role "read" only read them (and, like anyone who can read a repo, open pull
requests and discussions on it); admins everywhere. Tokens are compared by their sha256 and never logged.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hub_tools.localhub.errors import HubError

ROLES = ("read", "write")


@dataclass(frozen=True)
class User:
    name: str
    orgs: tuple[str, ...] = ()  # role "write"
    admin: bool = False
    read_orgs: tuple[str, ...] = ()  # role "read"

    def can_read(self, namespace: str) -> bool:
        """Read private repos of ``namespace``."""
        return self.can_access(namespace) or namespace.lower() in (o.lower() for o in self.read_orgs)

    def can_access(self, namespace: str) -> bool:
        """Read private repos and write in ``namespace`` (names are matched without case, as on the Hub)."""
        ns = namespace.lower()
        return self.admin or ns == self.name.lower() or ns in (o.lower() for o in self.orgs)

    def spelling(self, namespace: str) -> str | None:
        """How this user spells ``namespace`` (its own name or one of its orgs), if it is one of them."""
        return next((n for n in (self.name, *self.orgs, *self.read_orgs) if n.lower() == namespace.lower()), None)


@dataclass
class TokenRegistry:
    by_hash: dict[str, User] = field(default_factory=dict)

    def add(self, token: str, user: User) -> None:
        self.by_hash[_hash(token)] = user

    def add_hash(self, token_sha256: str, user: User) -> None:
        self.by_hash[token_sha256.lower()] = user

    def authenticate(self, authorization: str | None) -> User | None:
        """The user behind an ``Authorization: Bearer`` header; None if no header; 401 if unknown."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HubError(401, "Invalid credentials in Authorization header")
        digest = _hash(token.strip())
        for known, user in self.by_hash.items():
            if hmac.compare_digest(known, digest):
                return user
        raise HubError(401, "Invalid credentials in Authorization header")

    @classmethod
    def load(cls, admin_token: str | None = None, admin_name: str = "hubtool",
             users_file: str | Path | None = None) -> "TokenRegistry":
        reg = cls()
        if admin_token:
            reg.add(admin_token, User(admin_name, admin=True))
        if users_file:
            data = yaml.safe_load(Path(users_file).read_text()) or {}
            for i, item in enumerate(data.get("users", [])):
                if not isinstance(item, dict) or not item.get("name"):
                    raise ValueError(f"{users_file}: users[{i}] needs a 'name'")
                write, read = _org_roles(item.get("orgs") or (), f"{users_file}: users[{i}].orgs")
                user = User(str(item["name"]), write, bool(item.get("admin", False)), read)
                if item.get("token"):
                    reg.add(str(item["token"]), user)
                elif item.get("token_sha256"):
                    reg.add_hash(str(item["token_sha256"]), user)
                else:
                    raise ValueError(f"{users_file}: users[{i}] ({user.name}) needs 'token' or 'token_sha256'")
        return reg


def _org_roles(orgs, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``[hitz, {name: x, role: read}]`` -> (write orgs, read orgs)."""
    write, read = [], []
    for org in orgs:
        name, role = (org, "write") if isinstance(org, str) else (
            (org.get("name"), org.get("role", "write")) if isinstance(org, dict) else (None, None))
        if not isinstance(name, str) or role not in ROLES:
            raise ValueError(f"{where}: each org is a name or {{name, role}} with role one of {', '.join(ROLES)}; "
                             f"got {org!r}")
        (write if role == "write" else read).append(name)
    return tuple(write), tuple(read)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
