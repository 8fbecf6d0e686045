"""Who may do what on the local hub.

Tokens come from the server's configuration: a single admin token (``--token``) and/or a users
file (YAML or JSON)::

    users:
      - name: alice
        token_sha256: 5e88...   # or `token: hf_...` (plain; keep the file private)
        orgs: [hitz]
      - name: ci
        token: hf_ci_token
        admin: true             # may write to every namespace

A user may read private repos and write repos in its own namespace and in its orgs; admins in all.
Tokens are compared by their sha256 and never logged.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hub_tools.localhub.errors import HubError


@dataclass(frozen=True)
class User:
    name: str
    orgs: tuple[str, ...] = ()
    admin: bool = False

    def can_access(self, namespace: str) -> bool:
        return self.admin or namespace == self.name or namespace in self.orgs


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
                user = User(str(item["name"]), tuple(item.get("orgs", ()) or ()), bool(item.get("admin", False)))
                if item.get("token"):
                    reg.add(str(item["token"]), user)
                elif item.get("token_sha256"):
                    reg.add_hash(str(item["token_sha256"]), user)
                else:
                    raise ValueError(f"{users_file}: users[{i}] ({user.name}) needs 'token' or 'token_sha256'")
        return reg


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
