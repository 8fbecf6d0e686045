"""The local hub's database schema, its migrations, and private file creation (0700 dirs, 0600 files)."""
from __future__ import annotations

import os
from pathlib import Path

SCHEMA_VERSION = 2
DB_FILE = "hub.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0, sdk TEXT, created_at TEXT NOT NULL,
    UNIQUE(type, namespace, name));
CREATE TABLE IF NOT EXISTS blobs(sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, git_sha1 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repo_lfs(repo_id INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(repo_id, sha256));
CREATE TABLE IF NOT EXISTS trees(
    tree_sha TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    lfs INTEGER NOT NULL, PRIMARY KEY(tree_sha, path));
CREATE TABLE IF NOT EXISTS commits(
    repo_id INTEGER NOT NULL, sha TEXT NOT NULL, parent TEXT, tree_sha TEXT NOT NULL,
    title TEXT NOT NULL, message TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY(repo_id, sha));
CREATE TABLE IF NOT EXISTS refs(
    repo_id INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, commit_sha TEXT NOT NULL,
    message TEXT, PRIMARY KEY(repo_id, kind, name));
CREATE TABLE IF NOT EXISTS collections(
    slug TEXT PRIMARY KEY, namespace TEXT NOT NULL, title TEXT NOT NULL, description TEXT,
    private INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    theme TEXT NOT NULL DEFAULT 'indigo', position INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS collection_items(
    slug TEXT NOT NULL, object_id TEXT NOT NULL, item_id TEXT NOT NULL, item_type TEXT NOT NULL,
    position INTEGER NOT NULL, note TEXT, PRIMARY KEY(slug, item_type, item_id));
CREATE TABLE IF NOT EXISTS space_variables(
    repo_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, description TEXT,
    updated_at TEXT NOT NULL, PRIMARY KEY(repo_id, key));
CREATE INDEX IF NOT EXISTS trees_by_content ON trees(sha256);
CREATE TABLE IF NOT EXISTS discussions(
    repo_id INTEGER NOT NULL, num INTEGER NOT NULL, title TEXT NOT NULL, author TEXT NOT NULL,
    is_pr INTEGER NOT NULL, status TEXT NOT NULL, target TEXT, base_sha TEXT, merge_sha TEXT,
    created_at TEXT NOT NULL, PRIMARY KEY(repo_id, num));
CREATE TABLE IF NOT EXISTS discussion_events(
    repo_id INTEGER NOT NULL, num INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    author TEXT NOT NULL, created_at TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY(repo_id, num, seq));
"""
# Schema 1 -> 2: collections gained theme and position.
MIGRATIONS = {1: ["ALTER TABLE collections ADD COLUMN theme TEXT NOT NULL DEFAULT 'indigo'",
                   "ALTER TABLE collections ADD COLUMN position INTEGER NOT NULL DEFAULT 0"]}


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def open_private(path: Path, mode: str = "wb"):
    """Open a new file that only its owner may read (0600), whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open
    return os.fdopen(fd, mode)
