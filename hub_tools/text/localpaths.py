"""Local absolute paths and the build machine's user name in text that gets published (cards,
hubtool.json): nobody else can open such a path, and it tells the world who built what where.

Hub-relative links in cards (``](/org/name)``), URLs and repo ids (``org/name``) are not paths.
Generic account names (root, user, ...) identify nobody and are not reported.
"""
from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from pathlib import Path

_PATH = re.compile(
    r"(?<![\w.:/@\-\]\\])(?<!\]\()"           # not inside a URL, a repo id, a word or a card link
    r"(?:/(?:[\w.\-+~]+/)+[\w.\-+~]*"         # /a/b, /home/me/models/x
    r"|~[\w.\-]*/[^\s\"'`,)\]]+"              # ~/models/x, ~me/x
    r"|\b[A-Za-z]:\\[^\s\"'`,)\]]+)")         # C:\Users\me\x
GENERIC_USERS = {"root", "user", "admin", "ubuntu", "runner", "nobody", "jovyan", "app", "hubtool", "ci"}


@dataclass
class LocalPath:
    line: int
    text: str
    what: str  # "path" or "user name"


def current_user() -> str | None:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return None
    return name if name and len(name) >= 3 and name.lower() not in GENERIC_USERS else None


def find_local_paths(text: str, user: str | None = None) -> list[LocalPath]:
    """Every local path (and the user name, when given) in ``text``, with its 1-based line."""
    out = [LocalPath(text.count("\n", 0, m.start()) + 1, m.group(0), "path") for m in _PATH.finditer(text)]
    if user:
        out += [LocalPath(text.count("\n", 0, m.start()) + 1, user, "user name")
                for m in re.finditer(rf"(?<![\w.-]){re.escape(user)}(?![\w-])", text)]
    return sorted(out, key=lambda p: p.line)


def has_local_path(value: str) -> bool:
    return bool(_PATH.search(value))


def portable_path(path: str, base: Path) -> str:
    """A path as it may appear in published files: unchanged when relative, relative to ``base`` (a config's
    folder) when it lies below it, else only its last part — never an absolute path of this machine."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        return path
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        return p.name
