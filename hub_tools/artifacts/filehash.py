"""Content hashes of local files, remembered by (path, size, mtime, ctime, inode) so unchanged files are never
read twice.

Both validation (its findings are cached by content) and push planning (compared with the remote tree) need
the sha256 of every file; the Hub client needs it again for LFS uploads. One hashing pass serves all three:
entries live in a small SQLite table in hubtool's cache folder (``$HUBTOOL_HOME/cache``).

An entry is trusted only when the file's mtime is older than the moment hashing started by at least
:data:`RACY_NS` (git's "racy clean" rule): a file rewritten within the file system's timestamp granularity
with the same size could otherwise keep a stale hash. Such entries are hashed again the next time, after
which they are trusted.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
from collections.abc import Iterator

log = logging.getLogger(__name__)
RACY_NS = 2_000_000_000  # coarser than any Linux file system's mtime granularity (FAT: 2 s)
MMAP_MAX = 256 * 1024 * 1024  # larger files are hashed in blocks (bounded memory), smaller ones mapped once
GIT_HASH_MAX = 1024 * 1024  # small files (which the Hub may store without LFS) get their git blob id in the same pass
_BLOCK = 1 << 22


def cache_dir() -> Path:
    """hubtool's cache folder: ``$HUBTOOL_HOME/cache`` or ``~/.cache/hubtool/cache``."""
    home = os.environ.get("HUBTOOL_HOME") or Path.home() / ".cache" / "hubtool"
    path = Path(home).expanduser() / "cache"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass
class HashCounters:
    """Work done by this process (tests and benchmarks read it: bytes hashed, files hashed, cache hits)."""

    files_hashed: int = 0
    bytes_hashed: int = 0
    hits: int = 0


COUNTERS = HashCounters()


@dataclass(frozen=True)
class FileHashes:
    size: int
    sha256: str


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


class HashCache:
    """The SQLite table behind :func:`file_hashes` (one per cache folder; safe across processes)."""

    _lock = threading.Lock()
    _instances: dict[Path, "HashCache"] = {}

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    @classmethod
    def default(cls) -> "HashCache":
        try:
            path = cache_dir() / "file-hashes.sqlite"
        except OSError:  # no writable cache folder: every lookup misses
            path = Path(os.devnull)
        with cls._lock:
            if path not in cls._instances:
                cls._instances[path] = cls(path)
            return cls._instances[path]

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: a crash may lose the last entries, never corrupt
            db.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INT, mtime INT, ctime INT, "
                       "ino INT, dev INT, recorded INT, sha256 TEXT, git TEXT)")
            self._local.db = db
        return db

    def get(self, path: str, st: os.stat_result) -> tuple[str, str | None] | None:
        try:
            row = self._db().execute("SELECT size, mtime, ctime, ino, dev, recorded, sha256, git FROM hashes "
                                     "WHERE path = ?", (path,)).fetchone()
        except (sqlite3.Error, OSError) as err:  # an unusable cache is a miss, never an error
            log.debug("hash cache unusable: %s", err)
            return None
        if row is None or tuple(row[:5]) != _stat_key(st) or st.st_mtime_ns >= row[5] - RACY_NS:
            return None
        return row[6], row[7]

    def put(self, path: str, st: os.stat_result, recorded: int, sha256: str, git: str | None = None) -> None:
        self._write("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (path, *_stat_key(st), recorded, sha256, git))

    def set_git(self, path: str, st: os.stat_result, git: str) -> None:
        self._write("UPDATE hashes SET git = ? WHERE path = ? AND size = ? AND mtime = ? AND ctime = ? "
                    "AND ino = ? AND dev = ?", (git, path, *_stat_key(st)))

    def _write(self, sql: str, args: tuple) -> None:
        try:
            self._db().execute(sql, args)
        except (sqlite3.Error, OSError) as err:  # read-only or full disk: work on without remembering
            log.debug("hash cache not written: %s", err)


def _key(path: Path) -> str:
    return os.path.realpath(path)


@contextmanager
def mapped(path: Path) -> Iterator[tuple[pa.Buffer | None, FileHashes]]:
    """The file's hashes, and its bytes as a memory-mapped pyarrow buffer when they had to be read to hash it.

    Lets a caller that also parses the file (validation) read it from disk once: the hash pass brings the
    pages in and the parser reads the same mapping (pyarrow keeps it alive while any buffer uses it). The
    buffer is None when the hashes came from the cache (nothing was read) or the file is larger than
    :data:`MMAP_MAX` (hashed in blocks instead, so memory stays bounded)."""
    import pyarrow as pa

    path = Path(path)
    cache = HashCache.default()
    key = _key(path)
    st = path.stat()
    hit = cache.get(key, st)
    if hit is not None:
        COUNTERS.hits += 1
        yield None, FileHashes(st.st_size, hit[0])
        return
    recorded = time.time_ns()
    COUNTERS.files_hashed += 1
    COUNTERS.bytes_hashed += st.st_size
    buf = None
    git = hashlib.sha1(b"blob %d\0" % st.st_size) if st.st_size <= GIT_HASH_MAX else None
    if 0 < st.st_size <= MMAP_MAX:
        with pa.memory_map(str(path), "r") as mf:
            buf = mf.read_buffer()
        sha = hashlib.sha256(memoryview(buf)).hexdigest()
        if git is not None:
            git.update(memoryview(buf))
    else:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
                if git is not None:
                    git.update(block)
        sha = h.hexdigest()
    if _stat_key(path.stat()) == _stat_key(st):  # not written while we read it
        cache.put(key, st, recorded, sha, git.hexdigest() if git is not None else None)
    yield buf, FileHashes(st.st_size, sha)


def file_hashes(path: Path) -> FileHashes:
    """(size, sha256) of a file, from the cache when its stat is unchanged."""
    with mapped(path) as (_, hashes):
        return hashes


def git_blob_id(path: Path) -> str:
    """The git blob sha1 of a file (what the Hub lists for files stored without LFS), cached like sha256."""
    path = Path(path)
    cache = HashCache.default()
    key = _key(path)
    st = path.stat()
    hit = cache.get(key, st)
    if hit is not None and hit[1]:
        COUNTERS.hits += 1
        return hit[1]
    if hit is None:
        file_hashes(path)
        st = path.stat()
    COUNTERS.bytes_hashed += st.st_size
    h = hashlib.sha1(b"blob %d\0" % st.st_size)
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    git = h.hexdigest()
    cache.set_git(key, st, git)
    return git
