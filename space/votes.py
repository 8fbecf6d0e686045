"""Arena votes: one SQLite transaction per vote (WAL), exported in batches to a Hub dataset repo.

The public arena the project follows committed one Hub file per vote and kept users in JSON files.
Here a vote is a row (idempotent on its id: a double submission stores it once; votes arriving together
share one transaction and one disk sync, each acknowledged only once committed), and an exporter writes
every vote not yet exported into a jsonl file named by its rowid range inside a folder that
huggingface_hub's CommitScheduler uploads every few minutes — one commit per batch, never per vote.
The folder is the record of what was exported: after a crash between writing a batch and noting it,
the next export rewrites the same range under the same name, so every vote reaches the Hub once.
Ids are UUIDs and timestamps are written as the reference dataset (HiTZ/ebaluatoia) writes them
(`2025-03-19T07:07:35.974527`, here in UTC). Schema 2 adds the sampling settings of both answers
(`hyperparameters`) and a `users` table: the profile (language level, education) of each pseudonymous
user, asked once. A schema-1 store is migrated in place when the app opens it.
Self-contained (stdlib + huggingface_hub): this file ships inside the Space.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 2
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # the reference's (Python's isoformat with microseconds)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    username TEXT, user_language TEXT, user_education TEXT,
    timestamp TEXT NOT NULL,
    model_a TEXT NOT NULL, model_b TEXT NOT NULL,
    conv_a TEXT NOT NULL, conv_b TEXT NOT NULL,
    winner TEXT NOT NULL, winner_content TEXT, winner_language TEXT,
    hyperparameters TEXT);
CREATE TABLE IF NOT EXISTS users(
    username TEXT PRIMARY KEY, user_language TEXT, user_education TEXT, updated TEXT NOT NULL);
"""
_MIGRATIONS = {1: ["ALTER TABLE votes ADD COLUMN hyperparameters TEXT"]}  # from version N to N+1
_BATCH = re.compile(r"^votes-(\d{10})-(\d{10})\.jsonl$")
_STRING_FIELDS = ("id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b")
_CONV = "\n".join(["  - name: {name}", "    list:", "    - name: role", "      dtype: string",
                    "    - name: content", "      dtype: string"])
# Declared features: jsonl batches where an optional field happens to be always null would otherwise be
# typed differently from the others, and load_dataset would fail to combine them.
EXPORT_README = (
    "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/votes-*.jsonl\n"
    "dataset_info:\n  features:\n"
    + "".join(f"  - name: {n}\n    dtype: string\n" for n in _STRING_FIELDS)
    + _CONV.format(name="conv_a") + "\n" + _CONV.format(name="conv_b") + "\n"
    + "".join(f"  - name: {n}\n    dtype: string\n" for n in ("winner", "winner_content", "winner_language",
                                                              "hyperparameters"))
    + "---\n# Arena votes\n\nExported in batches by the demo Space (hubtool). One row per vote; `username` is a "
    "pseudonym, `hyperparameters` the JSON of both answers' sampling settings.\n")


def now_timestamp() -> str:
    return datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)


@dataclass
class Vote:
    """One arena vote, with the fields of the published Basque arena dataset (HiTZ/ebaluatoia)."""

    model_a: str
    model_b: str
    conv_a: list[dict]
    conv_b: list[dict]
    winner: str
    winner_content: str | None = None
    winner_language: str | None = None
    username: str | None = None        # a pseudonym (identity.pseudonym), None when anonymous
    user_language: str | None = None   # optional profile field (C1-C2, B1-B2, A1-A2)
    user_education: str | None = None  # optional profile field (Bachelor, ...)
    hyperparameters: dict | None = None  # {"model_a": {temperature, top_p, max_new_tokens, seed}, "model_b": ...}
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: str = field(default_factory=now_timestamp)

    def check(self) -> None:
        for name in ("winner", "winner_content", "winner_language"):
            value = getattr(self, name)
            if value is not None and value not in WINNERS:
                raise ValueError(f"{name} must be one of {', '.join(WINNERS)}, not {value!r}")
        for name in ("conv_a", "conv_b"):
            conv = getattr(self, name)
            if not isinstance(conv, list) or not all(isinstance(m, dict) and {"role", "content"} <= set(m)
                                                     for m in conv):
                raise ValueError(f"{name} must be a list of {{role, content}}")
        if self.model_a == self.model_b:
            raise ValueError("an arena battle needs two different models")


_INSERT = ("INSERT OR IGNORE INTO votes(id, username, user_language, user_education, timestamp, model_a, model_b, "
           "conv_a, conv_b, winner, winner_content, winner_language, hyperparameters) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _values(vote: Vote) -> tuple:
    return (vote.id, vote.username, vote.user_language, vote.user_education, vote.timestamp, vote.model_a,
            vote.model_b, json.dumps(vote.conv_a, ensure_ascii=False), json.dumps(vote.conv_b, ensure_ascii=False),
            vote.winner, vote.winner_content, vote.winner_language,
            None if vote.hyperparameters is None else json.dumps(vote.hyperparameters, sort_keys=True))


class _Pending:
    def __init__(self, vote: Vote):
        self.vote, self.stored, self.error, self.done = vote, False, None, threading.Event()


class VoteStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._queue: list[_Pending] = []
        self._writer_lock = threading.Lock()
        self._wake = threading.Condition(self._writer_lock)
        self._writer: threading.Thread | None = None
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            fresh = db.execute("SELECT name FROM sqlite_master WHERE name='votes'").fetchone() is None
            db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = SCHEMA_VERSION if fresh or row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path}: vote schema {version} is newer than this app's ({SCHEMA_VERSION}); "
                                   "update the app")
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    db.execute(statement)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _db(self) -> sqlite3.Connection:
        """One connection per thread (Gradio handles requests on worker threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def add(self, vote: Vote) -> bool:
        """Store a vote durably (committed and synced when this returns). False if its id was already stored.

        Votes arriving together are written by one writer thread in one transaction (group commit): one
        disk sync for the group instead of one per vote, each voter still waiting for its own vote's commit.
        """
        vote.check()
        pending = _Pending(vote)
        with self._writer_lock:
            self._queue.append(pending)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="vote-writer", daemon=True)
                self._writer.start()
            self._wake.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.stored

    def _write_loop(self) -> None:
        db = self._db()
        while True:
            with self._writer_lock:
                while not self._queue:
                    if not self._wake.wait(timeout=30):
                        if not self._queue:
                            self._writer = None  # idle: the next vote starts a new writer
                            return
                batch, self._queue = self._queue, []
            try:
                db.execute("BEGIN IMMEDIATE")
                for pending in batch:
                    pending.stored = db.execute(_INSERT, _values(pending.vote)).rowcount == 1
                db.execute("COMMIT")
            except Exception as err:  # noqa: BLE001 - handed to each waiting voter
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for pending in batch:
                    pending.error = err
            for pending in batch:
                pending.done.set()

    def save_profile(self, username: str, user_language: str | None, user_education: str | None) -> None:
        """Keep a user's profile (asked once, before the first vote); empty answers keep the stored ones."""
        self._db().execute(
            "INSERT INTO users(username, user_language, user_education, updated) VALUES(?,?,?,?) "
            "ON CONFLICT(username) DO UPDATE SET user_language=COALESCE(excluded.user_language, user_language), "
            "user_education=COALESCE(excluded.user_education, user_education), updated=excluded.updated",
            (username, user_language, user_education, now_timestamp()))

    def profile(self, username: str) -> dict | None:
        row = self._db().execute("SELECT user_language, user_education FROM users WHERE username=?",
                                 (username,)).fetchone()
        return None if row is None else {"user_language": row[0], "user_education": row[1]}

    def contributors(self) -> list[tuple[str, int]]:
        """(pseudonym, votes) of every signed-in voter, most votes first."""
        return [tuple(r) for r in self._db().execute(
            "SELECT username, COUNT(*) AS n FROM votes WHERE username IS NOT NULL AND username != '' "
            "GROUP BY username ORDER BY n DESC, MIN(seq)")]

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    def rows(self, after_seq: int = 0) -> list[dict]:
        cur = self._db().execute("SELECT * FROM votes WHERE seq > ? ORDER BY seq", (after_seq,))
        names = [d[0] for d in cur.description]
        out = []
        for values in cur.fetchall():
            row = dict(zip(names, values))
            row["conv_a"], row["conv_b"] = json.loads(row["conv_a"]), json.loads(row["conv_b"])
            row["hyperparameters"] = json.loads(row["hyperparameters"]) if row["hyperparameters"] else None
            out.append(row)
        return out

    def export_batch(self, folder: str | Path, lock: threading.Lock | None = None) -> Path | None:
        """Write the votes not yet in ``folder`` as one jsonl file; None when there is nothing new."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        done = max((int(m.group(2)) for p in folder.iterdir() if (m := _BATCH.match(p.name))), default=0)
        rows = self.rows(after_seq=done)
        if not rows:
            return None
        target = folder / f"votes-{rows[0]['seq']:010d}-{rows[-1]['seq']:010d}.jsonl"
        tmp = target.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(_exported(r), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        with lock or threading.Lock():  # the scheduler must never upload a half-written file
            tmp.replace(target)
        return target


def _exported(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k != "seq"}
    if out.get("hyperparameters") is not None:  # a JSON string: backends may add settings without a schema change
        out["hyperparameters"] = json.dumps(out["hyperparameters"], sort_keys=True)
    return out


def vote_exporter(store: VoteStore, repo_id: str, folder: str | Path, every_minutes: float = 5,
                  private: bool = True, token: str | None = None, api=None):
    """A CommitScheduler that, before each periodic upload, exports the votes not yet in ``folder``."""
    from huggingface_hub import CommitScheduler

    class VoteExportScheduler(CommitScheduler):
        def push_to_hub(self):
            store.export_batch(self.folder_path, self.lock)
            return super().push_to_hub()

    scheduler = VoteExportScheduler(repo_id=repo_id, repo_type="dataset", folder_path=folder, path_in_repo="data",
                                    every=every_minutes, private=private, token=token,
                                    allow_patterns=["votes-*.jsonl"], hf_api=api)
    scheduler.api.upload_file(path_or_fileobj=EXPORT_README.encode(), path_in_repo="README.md", repo_id=repo_id,
                              repo_type="dataset", commit_message="Describe the vote export")  # no-op if unchanged
    return scheduler
