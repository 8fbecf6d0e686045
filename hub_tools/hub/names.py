"""The Hub's naming rules for repo ids and refs, shared by validation (before anything is pushed) and the
local hub (when a client creates something)."""
from __future__ import annotations

import re

from hub_tools.errors import HubtoolError

# The Hub (and huggingface_hub.utils.validate_repo_id) forbid a leading or trailing "-" or ".", not "_".
_NAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
_REF_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]{0,199}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


class InvalidName(HubtoolError, ValueError):
    """A repo id part or a ref name the Hub would refuse; the message says which rule."""


def check_name(part: str, what: str) -> None:
    """Repo id parts follow the Hub's rules: letters, digits, '-', '_', '.', no '--' or '..'."""
    if not _NAME_RE.match(part or "") or "--" in part or ".." in part or part.endswith(".git"):
        raise InvalidName(
            f"Invalid {what} {part!r}: use 1-96 letters, digits, '-', '_' or '.', not starting or ending "
            "with '-' or '.', without '--' or '..'"
        )


def check_ref_name(name: str, what: str = "branch") -> None:
    if not _REF_RE.match(name or "") or ".." in name or name.endswith((".lock", "/")) or "//" in name:
        raise InvalidName(f"Invalid {what} name {name!r}: use letters, digits, '.', '_', '-' and '/'")
    if name.startswith("refs/"):
        raise InvalidName(f"Invalid {what} name {name!r}: names under refs/ are the Hub's own")
    if HEX40.match(name):
        raise InvalidName(f"Invalid {what} name {name!r}: a 40-hex name would shadow commit ids")
