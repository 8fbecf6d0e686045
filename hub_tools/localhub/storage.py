"""Durable storage of the local hub: repos, refs and commits in SQLite (WAL), file contents
content-addressed on disk (``objects/ab/cd/<sha256>``).

A commit is one SQLite transaction over (tree, commit, ref): either every file of it becomes
visible or none does. Blobs are written before the transaction; a failed commit only leaves
unreferenced blobs behind, never a half-visible tree.

Everything under the data dir is private to its owner: directories 0700, files 0600 (private repos
live there). Repo ids are matched without regard to case, as on the Hub.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from hub_tools.localhub.errors import (
    HubError,
    bad_request,
    entry_not_found,
    revision_not_found,
)
from hub_tools.localhub.model import (
    GITATTRIBUTES,
    REPO_TYPES,
    RESERVED_NAMESPACES,
    SPACE_SDKS,
    Commit,
    Entry,
    FileOp,
    Repo,
    check_name,
    check_no_file_dir_clash,
    check_ref_name,
    git_blob_sha1,
    is_hex,
    utcnow,
)
from hub_tools.localhub.schema import (  # noqa: F401  (open_private and private_dir: re-exported helpers)
    DB_FILE,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    open_private,
    private_dir,
)
from hub_tools.localhub.store_collections import CollectionStore
from hub_tools.localhub.store_discussions import DiscussionStore

_SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}$")


def ref_kind(revision: str) -> tuple[str | None, str]:
    """``refs/heads/x`` -> (branch, x); ``refs/tags/x`` -> (tag, x); ``refs/pr/N`` -> (pr, N); else (None, rev)."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag"), ("refs/pr/", "pr")):
        if revision.startswith(prefix):
            return kind, revision[len(prefix):]
    return None, revision


class HubStore(CollectionStore, DiscussionStore):
    """All state of one local hub. Thread-safe: one connection, serialised by a lock."""

    def __init__(self, data_dir: str | os.PathLike[str]):
        self.root = Path(data_dir)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        for d in (self.root, self.objects, self.tmp):
            private_dir(d)
        for leftover in self.tmp.iterdir():  # partial uploads of a previous run
            leftover.unlink(missing_ok=True)
        db_path = self.root / DB_FILE
        open_private(db_path, "ab").close()  # SQLite gives its -wal and -shm files the mode of the database
        for extra in (db_path.with_name(DB_FILE + "-wal"), db_path.with_name(DB_FILE + "-shm")):
            if extra.exists():
                os.chmod(extra, 0o600)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
            else:
                self._migrate(int(row["value"]))
            try:  # no two repos whose ids differ only in case
                self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS repos_nocase ON repos(type, namespace COLLATE "
                                 "NOCASE, name COLLATE NOCASE)")
            except sqlite3.IntegrityError:  # data from an older hubtool holds such a pair: lookups pick the first
                pass

    def _migrate(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.root}: hub data has schema version {version}, this hubtool reads "
                               f"{SCHEMA_VERSION} and older: upgrade hubtool")
        with self._write() as db:
            for v in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[v]:
                    db.execute(statement)
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- transactions -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers are serialised, readers see all of it or none."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- blobs --------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def blob(self, sha256: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM blobs WHERE sha256=?", (sha256,))
        return rows[0] if rows else None

    def put_blob_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if self.blob(sha) is None:
            tmp = self.tmp / uuid.uuid4().hex
            with open_private(tmp) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self.adopt_blob(tmp, sha, len(data), git_blob_sha1(data))
        return sha, len(data)

    def adopt_blob(self, tmp_path: Path, sha256: str, size: int, git_sha1: str) -> None:
        """Move a fully written and hashed temp file into the object store."""
        target = self.blob_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(tmp_path, 0o600)
        os.replace(tmp_path, target)
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO blobs VALUES(?,?,?)", (sha256, size, git_sha1))

    def link_lfs(self, repo: Repo, sha256: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO repo_lfs VALUES(?,?)", (repo.id, sha256))

    def repo_has_lfs(self, repo: Repo, sha256: str) -> bool:
        """Whether ``sha256`` was uploaded to this repo (or proven readable by its uploader, see lfs.batch)."""
        return bool(self._read("SELECT 1 FROM repo_lfs WHERE repo_id=? AND sha256=?", (repo.id, sha256)))

    def repos_serving(self, sha256: str) -> list[Repo]:
        """Repos with a commit whose tree holds this LFS object: where it can be downloaded from."""
        rows = self._read("SELECT DISTINCT r.* FROM trees t JOIN commits c ON c.tree_sha=t.tree_sha "
                          "JOIN repos r ON r.id=c.repo_id WHERE t.sha256=? AND t.lfs=1", (sha256,))
        return [self._repo(r) for r in rows]

    # -- repos --------------------------------------------------------------------------------
    def _repo(self, row: sqlite3.Row) -> Repo:
        return Repo(row["id"], row["type"], row["namespace"], row["name"], bool(row["private"]), row["sdk"],
                    row["created_at"])

    def get_repo(self, repo_type: str, namespace: str, name: str) -> Repo | None:
        rows = self._read("SELECT * FROM repos WHERE type=? AND namespace=? COLLATE NOCASE AND name=? COLLATE NOCASE "
                          "ORDER BY id", (repo_type, namespace, name))
        return self._repo(rows[0]) if rows else None

    def namespace_spelling(self, namespace: str) -> str:
        """How an existing namespace is spelled (namespaces are matched without case); else as given."""
        rows = self._read("SELECT namespace FROM repos WHERE namespace=? COLLATE NOCASE ORDER BY id LIMIT 1",
                          (namespace,))
        return rows[0]["namespace"] if rows else namespace

    def repo_by_id(self, repo_pk: int) -> Repo | None:
        rows = self._read("SELECT * FROM repos WHERE id=?", (repo_pk,))
        return self._repo(rows[0]) if rows else None

    def list_repos(self, repo_type: str, author: str | None = None) -> list[Repo]:
        if author:
            rows = self._read("SELECT * FROM repos WHERE type=? AND namespace=? COLLATE NOCASE ORDER BY id",
                              (repo_type, author))
        else:
            rows = self._read("SELECT * FROM repos WHERE type=? ORDER BY id", (repo_type,))
        return [self._repo(r) for r in rows]

    def create_repo(self, repo_type: str, namespace: str, name: str, private: bool, sdk: str | None,
                    author: str) -> Repo:
        """Create a repo with the Hub's initial commit (.gitattributes). Raises 409 if it exists."""
        if repo_type not in REPO_TYPES:
            raise bad_request(f"Invalid repo type {repo_type!r}: expected one of {', '.join(REPO_TYPES)}")
        check_name(namespace, "namespace")
        check_name(name, "repo name")
        if namespace.lower() in RESERVED_NAMESPACES:
            raise bad_request(f"Invalid namespace {namespace!r}: it is reserved")
        if repo_type == "space" and sdk not in SPACE_SDKS:
            raise bad_request(f"Invalid space sdk {sdk!r}: expected one of {', '.join(SPACE_SDKS)}")
        files = {".gitattributes": GITATTRIBUTES.encode()}
        if repo_type == "space":
            files["README.md"] = (
                f"---\ntitle: {name}\nsdk: {sdk}\n" + ("app_file: app.py\n" if sdk in ("gradio", "streamlit") else "")
                + "---\n"
            ).encode()
        ops = []
        for path, data in files.items():
            sha, size = self.put_blob_bytes(data)
            ops.append(FileOp("add", path, sha, size, False))
        with self._write() as db:
            if db.execute("SELECT 1 FROM repos WHERE type=? AND namespace=? COLLATE NOCASE AND name=? COLLATE NOCASE",
                          (repo_type, namespace, name)).fetchone():
                raise HubError(409, f"You already created this {repo_type} repo: {namespace}/{name}")
            cur = db.execute(
                "INSERT INTO repos(type, namespace, name, private, sdk, created_at) VALUES(?,?,?,?,?,?)",
                (repo_type, namespace, name, int(private), sdk, utcnow()),
            )
            repo = self._repo(db.execute("SELECT * FROM repos WHERE id=?", (cur.lastrowid,)).fetchone())
            self._commit_in_tx(db, repo, "main", ops, "initial commit", "", author, None, create_branch=True)
        return repo

    def delete_repo(self, repo: Repo) -> None:
        with self._write() as db:
            for table in ("refs", "commits", "repo_lfs", "space_variables", "discussions", "discussion_events"):
                db.execute(f"DELETE FROM {table} WHERE repo_id=?", (repo.id,))
            db.execute("DELETE FROM repos WHERE id=?", (repo.id,))
            db.execute("DELETE FROM collection_items WHERE item_type=? AND item_id=?", (repo.type, repo.repo_id))

    def set_private(self, repo: Repo, private: bool) -> None:
        with self._write() as db:
            db.execute("UPDATE repos SET private=? WHERE id=?", (int(private), repo.id))

    # -- Space variables (public settings of a Space; secrets are not stored by the local hub) -----------
    def space_variables(self, repo: Repo) -> dict[str, dict]:
        rows = self._read("SELECT * FROM space_variables WHERE repo_id=? ORDER BY key", (repo.id,))
        return {r["key"]: {"value": r["value"], "description": r["description"], "updatedAt": r["updated_at"]}
                for r in rows}

    def set_space_variable(self, repo: Repo, key: str, value: str, description: str | None) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO space_variables VALUES(?,?,?,?,?)",
                       (repo.id, key, value, description, utcnow()))

    def delete_space_variable(self, repo: Repo, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM space_variables WHERE repo_id=? AND key=?", (repo.id, key))

    # -- refs and revisions -------------------------------------------------------------------
    def refs(self, repo: Repo, kind: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM refs WHERE repo_id=? AND kind=? ORDER BY name", (repo.id, kind))

    def ref(self, repo: Repo, kind: str, name: str) -> str | None:
        rows = self._read("SELECT commit_sha FROM refs WHERE repo_id=? AND kind=? AND name=?", (repo.id, kind, name))
        return rows[0]["commit_sha"] if rows else None

    def resolve(self, repo: Repo, revision: str) -> str:
        """A branch, a tag (plain or as refs/heads/x, refs/tags/x), a pull request (refs/pr/N) or a commit sha,
        full or a unique prefix of at least 7 hex digits -> commit sha. A branch wins over a tag of its name."""
        rev = revision
        kind, name = ref_kind(rev)
        if kind is not None:
            found = self.ref(repo, kind, name)
        else:
            found = self.ref(repo, "branch", rev) or self.ref(repo, "tag", rev)
            if found is None and is_hex(rev, 40) and self.commit(repo, rev) is not None:
                found = rev
            elif found is None and _SHORT_SHA.match(rev):
                rows = self._read("SELECT sha FROM commits WHERE repo_id=? AND sha LIKE ? LIMIT 2",
                                  (repo.id, rev + "%"))
                found = rows[0]["sha"] if len(rows) == 1 else None
        if found is None:
            raise revision_not_found(revision)
        return found

    def create_ref(self, repo: Repo, kind: str, name: str, commit_sha: str, message: str | None = None) -> None:
        check_ref_name(name, kind)
        with self._write() as db:
            if db.execute("SELECT 1 FROM refs WHERE repo_id=? AND kind=? AND name=?", (repo.id, kind, name)).fetchone():
                raise HubError(409, f"{kind.capitalize()} {name!r} already exists in {repo.repo_id}")
            db.execute("INSERT INTO refs VALUES(?,?,?,?,?)", (repo.id, kind, name, commit_sha, message))

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        if kind == "branch" and name == "main":
            raise HubError(403, "The main branch cannot be deleted")
        with self._write() as db:
            cur = db.execute("DELETE FROM refs WHERE repo_id=? AND kind=? AND name=?", (repo.id, kind, name))
            if cur.rowcount == 0:
                raise revision_not_found(name)

    # -- commits and trees --------------------------------------------------------------------
    def commit(self, repo: Repo, sha: str) -> Commit | None:
        rows = self._read("SELECT * FROM commits WHERE repo_id=? AND sha=?", (repo.id, sha))
        if not rows:
            return None
        r = rows[0]
        return Commit(r["sha"], r["parent"], r["tree_sha"], r["title"], r["message"], r["author"], r["created_at"])

    def history(self, repo: Repo, sha: str) -> Iterator[Commit]:
        current: str | None = sha
        while current:
            c = self.commit(repo, current)
            if c is None:
                return
            yield c
            current = c.parent

    def tree(self, tree_sha: str) -> dict[str, Entry]:
        rows = self._read(
            "SELECT t.path, t.sha256, t.size, t.lfs, b.git_sha1 FROM trees t JOIN blobs b ON b.sha256=t.sha256 "
            "WHERE t.tree_sha=?", (tree_sha,))
        return {r["path"]: Entry(r["path"], r["sha256"], r["size"], bool(r["lfs"]), r["git_sha1"]) for r in rows}

    def files_at(self, repo: Repo, commit_sha: str) -> dict[str, Entry]:
        c = self.commit(repo, commit_sha)
        if c is None:
            raise revision_not_found(commit_sha)
        return self.tree(c.tree_sha)

    def create_commit(self, repo: Repo, branch: str, ops: list[FileOp], title: str, message: str, author: str,
                      parent_commit: str | None, kind: str = "branch") -> str:
        """Apply ``ops`` on top of ``branch`` (a pull request's number with kind="pr") atomically; 412 if
        ``parent_commit`` is not its head."""
        with self._write() as db:
            return self._commit_in_tx(db, repo, branch, ops, title, message, author, parent_commit, kind=kind)

    def _commit_in_tx(self, db: sqlite3.Connection, repo: Repo, branch: str, ops: list[FileOp], title: str,
                      message: str, author: str, parent_commit: str | None, create_branch: bool = False,
                      kind: str = "branch") -> str:
        head_row = db.execute("SELECT commit_sha FROM refs WHERE repo_id=? AND kind=? AND name=?",
                              (repo.id, kind, branch)).fetchone()
        if head_row is None and not create_branch:
            raise revision_not_found(branch)
        head = head_row["commit_sha"] if head_row else None
        if parent_commit is not None and parent_commit != head:
            raise HubError(412, f"A commit has happened since {parent_commit} on {branch} (head is now {head}). "
                                "Please refresh and try again.")
        files: dict[str, Entry] = {}
        if head:
            tree_sha = db.execute("SELECT tree_sha FROM commits WHERE repo_id=? AND sha=?",
                                  (repo.id, head)).fetchone()["tree_sha"]
            files = self.tree(tree_sha)
        for op in ops:
            if op.kind == "delete_file" and op.path not in files and any(p.startswith(op.path + "/") for p in files):
                op = FileOp("delete_folder", op.path)  # the Hub deletes a folder named without its trailing "/"
            if op.kind == "delete_file":
                if op.path not in files:
                    raise entry_not_found(f"{op.path} (A file with this name doesn't exist)", head)
                del files[op.path]
            elif op.kind == "delete_folder":
                prefix = op.path.rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise entry_not_found(f"{op.path} (A folder with this name doesn't exist)", head)
                for p in doomed:
                    del files[p]
            else:
                row = db.execute("SELECT git_sha1 FROM blobs WHERE sha256=?", (op.sha256,)).fetchone()
                if row is None:  # guarded earlier; keeps the invariant that trees only point at stored blobs
                    raise bad_request(f"{op.path}: content {op.sha256} was never uploaded")
                files[op.path] = Entry(op.path, op.sha256, op.size, op.lfs, row["git_sha1"])
        return self._write_commit(db, repo, kind, branch, files, head, title, message, author)

    def _write_commit(self, db: sqlite3.Connection, repo: Repo, kind: str, ref: str, files: dict[str, Entry],
                      head: str | None, title: str, message: str, author: str) -> str:
        """Store the tree ``files`` as a commit on top of ``head`` and move the ref (kind, ref) to it."""
        check_no_file_dir_clash(files)
        tree_sha = hashlib.sha1(
            "".join(f"{p}\0{e.sha256}\0{int(e.lfs)}\n" for p, e in sorted(files.items())).encode()
        ).hexdigest()
        if not db.execute("SELECT 1 FROM trees WHERE tree_sha=? LIMIT 1", (tree_sha,)).fetchone():
            db.executemany("INSERT INTO trees VALUES(?,?,?,?,?)",
                           [(tree_sha, e.path, e.sha256, e.size, int(e.lfs)) for e in files.values()])
        created = utcnow()
        sha = hashlib.sha1(
            f"tree {tree_sha}\nparent {head}\nauthor {author} {time.time_ns()} {uuid.uuid4().hex}\n\n{title}\n{message}"
            .encode()).hexdigest()
        db.execute("INSERT INTO commits VALUES(?,?,?,?,?,?,?,?)",
                   (repo.id, sha, head, tree_sha, title, message, author, created))
        db.execute("INSERT OR REPLACE INTO refs VALUES(?,?,?,?,?)", (repo.id, kind, ref, sha, None))
        if kind == "pr":
            self._pr_commit_event(db, repo, int(ref), sha, title, author)
        return sha

