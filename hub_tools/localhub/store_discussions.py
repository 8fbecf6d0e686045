"""Discussions and pull requests in the local hub's database: a mixin of :class:`HubStore`.

A pull request is a discussion with a ref ``refs/pr/N`` (kind "pr", name "N") that starts at the head
of its target branch; commits to that ref are recorded as "commit" events. Merging squashes the pull
request into one commit on the target branch, after a file-level three-way merge against the commit the
pull request started from: a file changed on both sides differently is a conflict (409), never a guess.
"""
from __future__ import annotations

import json
import sqlite3
import uuid

from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import Entry, Repo, utcnow

STATUSES = ("draft", "open", "closed", "merged")


def _event_id() -> str:
    return uuid.uuid4().hex[:24]


class DiscussionStore:
    """Needs ``_read``, ``_write``, ``tree``, ``commit`` and ``_write_commit`` of HubStore."""

    # -- reading ------------------------------------------------------------------------------
    def discussion(self, repo: Repo, num: int) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM discussions WHERE repo_id=? AND num=?", (repo.id, num))
        return rows[0] if rows else None

    def discussions(self, repo: Repo) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM discussions WHERE repo_id=? ORDER BY num DESC", (repo.id,))

    def discussion_events(self, repo: Repo, num: int) -> list[dict]:
        rows = self._read("SELECT * FROM discussion_events WHERE repo_id=? AND num=? ORDER BY seq", (repo.id, num))
        return [_event_json(r) for r in rows]

    # -- writing ------------------------------------------------------------------------------
    def open_discussion(self, repo: Repo, title: str, description: str, author: str, is_pr: bool,
                        target: str = "main", status: str | None = None,
                        db: sqlite3.Connection | None = None) -> int:
        """A new discussion (or pull request from the head of ``target``) with its description as first comment."""
        if db is None:
            with self._write() as tx:
                return self.open_discussion(repo, title, description, author, is_pr, target, status, tx)
        base = None
        if is_pr:
            row = db.execute("SELECT commit_sha FROM refs WHERE repo_id=? AND kind='branch' AND name=?",
                             (repo.id, target)).fetchone()
            if row is None:
                raise bad_request(f"A pull request targets a branch; {target!r} is not one")
            base = row["commit_sha"]
        num = db.execute("SELECT COALESCE(MAX(num), 0) + 1 FROM discussions WHERE repo_id=?", (repo.id,)).fetchone()[0]
        db.execute("INSERT INTO discussions VALUES(?,?,?,?,?,?,?,?,?,?)",
                   (repo.id, num, title, author, int(is_pr), status or ("draft" if is_pr else "open"),
                    target if is_pr else None, base, None, utcnow()))
        if is_pr:
            db.execute("INSERT INTO refs VALUES(?,?,?,?,?)", (repo.id, "pr", str(num), base, None))
        self._add_event(db, repo, num, "comment", author, _comment_data(description, author))
        return num

    def commit_as_pull_request(self, repo: Repo, target: str, ops: list, title: str, message: str, author: str,
                               parent_commit: str | None) -> tuple[str, int]:
        """``create_commit(create_pr=True)``: open a pull request on ``target`` and commit to it, atomically."""
        with self._write() as db:
            num = self.open_discussion(repo, title, message or title, author, True, target, "open", db)
            sha = self._commit_in_tx(db, repo, str(num), ops, title, message, author, parent_commit, kind="pr")
            return sha, num

    def comment(self, repo: Repo, num: int, author: str, text: str) -> dict:
        with self._write() as db:
            return self._add_event(db, repo, num, "comment", author, _comment_data(text, author))

    def set_discussion_status(self, repo: Repo, num: int, status: str, author: str, comment: str | None) -> dict:
        with self._write() as db:
            if comment:
                self._add_event(db, repo, num, "comment", author, _comment_data(comment, author))
            db.execute("UPDATE discussions SET status=? WHERE repo_id=? AND num=?", (status, repo.id, num))
            return self._add_event(db, repo, num, "status-change", author, {"status": status})

    def merge_pull_request(self, repo: Repo, num: int, author: str, comment: str | None) -> str:
        """Squash-merge refs/pr/N into its target branch; 409 with the conflicting files if both changed."""
        with self._write() as db:
            d = db.execute("SELECT * FROM discussions WHERE repo_id=? AND num=?", (repo.id, num)).fetchone()
            head = self._ref_in_tx(db, repo, "pr", str(num))
            target_head = self._ref_in_tx(db, repo, "branch", d["target"])
            if target_head is None:
                raise HubError(409, f"The target branch {d['target']!r} of this pull request no longer exists")
            merged, conflicts = self.three_way(repo, d["base_sha"], target_head, head)
            if conflicts:
                raise HubError(409, f"Pull request #{num} conflicts with {d['target']} on: {', '.join(conflicts)}")
            sha = self._write_commit(db, repo, "branch", d["target"], merged, target_head,
                                     f"Merge pull request #{num}: {d['title']}", comment or "", author)
            if comment:
                self._add_event(db, repo, num, "comment", author, _comment_data(comment, author))
            db.execute("UPDATE discussions SET status='merged', merge_sha=? WHERE repo_id=? AND num=?",
                       (sha, repo.id, num))
            self._add_event(db, repo, num, "status-change", author, {"status": "merged"})
            return sha

    def three_way(self, repo: Repo, base: str, ours: str, theirs: str) -> tuple[dict[str, Entry], list[str]]:
        """Merge at file level: keep a side's change when the other side left the file as in ``base``."""
        trees = [self.tree(self.commit(repo, sha).tree_sha) for sha in (base, ours, theirs)]
        b, o, t = ({p: e.sha256 for p, e in tree.items()} for tree in trees)
        merged: dict[str, Entry] = {}
        conflicts = []
        for path in sorted(set(b) | set(o) | set(t)):
            if t.get(path) == b.get(path) or o.get(path) == t.get(path):
                side = trees[1]
            elif o.get(path) == b.get(path):
                side = trees[2]
            else:
                conflicts.append(path)
                continue
            if path in side:
                merged[path] = side[path]
        return merged, conflicts

    # -- helpers ------------------------------------------------------------------------------
    def _ref_in_tx(self, db: sqlite3.Connection, repo: Repo, kind: str, name: str) -> str | None:
        row = db.execute("SELECT commit_sha FROM refs WHERE repo_id=? AND kind=? AND name=?",
                         (repo.id, kind, name)).fetchone()
        return row["commit_sha"] if row else None

    def _pr_commit_event(self, db: sqlite3.Connection, repo: Repo, num: int, sha: str, title: str,
                         author: str) -> None:
        d = db.execute("SELECT status FROM discussions WHERE repo_id=? AND num=?", (repo.id, num)).fetchone()
        if d is None or d["status"] not in ("draft", "open"):
            raise HubError(403, f"Pull request #{num} is {d['status'] if d else 'missing'}: commits go to open "
                                "pull requests only")
        self._add_event(db, repo, num, "commit", author, {"subject": title, "oid": sha})

    def _add_event(self, db: sqlite3.Connection, repo: Repo, num: int, kind: str, author: str, data: dict) -> dict:
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM discussion_events WHERE repo_id=? AND num=?",
                         (repo.id, num)).fetchone()[0]
        row = (repo.id, num, seq, _event_id(), kind, author, utcnow(), json.dumps(data))
        db.execute("INSERT INTO discussion_events VALUES(?,?,?,?,?,?,?,?)", row)
        return _event_json(dict(zip(("repo_id", "num", "seq", "id", "type", "author", "created_at", "data"), row)))


def _comment_data(text: str, author: str) -> dict:
    return {"edited": False, "hidden": False, "latest": {"raw": text, "html": text, "updatedAt": utcnow(),
                                                         "author": {"name": author}}, "numEdits": 0, "history": []}


def _event_json(row) -> dict:
    return {"id": row["id"], "type": row["type"], "createdAt": row["created_at"],
            "author": {"name": row["author"], "type": "user"}, "data": json.loads(row["data"])}
