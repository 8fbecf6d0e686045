"""Validation results remembered by content, so unchanged data is never validated twice.

Three levels, all under ``$HUBTOOL_HOME/cache/validate`` and all keyed by :data:`VALIDATOR_VERSION`
(any change to the checks bumps it, so stale findings are never served):

- a whole dataset artifact: (kind, languages, settings, config/split layout, sha256 of every data file)
  -> its findings and statistics; an unchanged artifact is answered without opening a data file;
- one data file: (sha256, kind, findings cap, sample size) -> its :class:`FileScan` (row findings,
  statistics, 64-bit row fingerprints); a changed shard is the only one read again;
- the language of one sampled text for a (declared, considered) language set.

``HUBTOOL_NO_CACHE=1`` turns every level off (for measuring a cold validation, or when in doubt).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from hub_tools import __version__
from hub_tools.artifacts.filehash import cache_dir
from hub_tools.validate.filescan import FileScan

log = logging.getLogger(__name__)
VALIDATOR_VERSION = f"{__version__}+checks.2"
MAX_BYTES = 2 * 1024**3  # scans beyond this total are dropped, least recently used first


def enabled() -> bool:
    if os.environ.get("HUBTOOL_NO_CACHE", "") not in ("", "0"):
        return False
    try:
        _root()
    except OSError:  # no writable cache folder: validate without remembering
        return False
    return True


def _root() -> Path:
    path = cache_dir() / "validate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def key_of(*parts: object) -> str:
    return hashlib.sha256(json.dumps([VALIDATOR_VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_scan(key: str) -> FileScan | None:
    if not enabled():
        return None
    path = _root() / "scans" / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            hashes, locs = z["hashes"], z["locs"]
    except (OSError, ValueError, KeyError):
        return None
    try:
        os.utime(path)  # recently used: pruned last
    except OSError:
        pass
    meta["word_hist"] = {int(k): v for k, v in meta["word_hist"].items()}
    meta["sample"] = [tuple(x) for x in meta["sample"]]
    return FileScan(**meta, hashes=hashes, locs=locs)


def save_scan(key: str, scan: FileScan) -> None:
    try:
        _save_scan(key, scan)
    except OSError as err:  # a full or read-only disk costs the cache, never the validation
        log.debug("validation cache not written: %s", err)


def _save_scan(key: str, scan: FileScan) -> None:
    if not enabled():
        return
    meta = {k: v for k, v in scan.__dict__.items() if k not in ("hashes", "locs")}
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    _atomic_write(_root() / "scans" / f"{key}.npz",
                  lambda f: np.savez(f, meta=blob, hashes=scan.hashes, locs=scan.locs))
    _prune(_root() / "scans")


def _prune(folder: Path, max_bytes: int = MAX_BYTES) -> None:
    entries = []
    for e in os.scandir(folder):
        try:
            if e.name.endswith(".npz"):
                st = e.stat()
                entries.append((st.st_mtime, st.st_size, e.path))
        except FileNotFoundError:  # removed by another process or thread meanwhile
            continue
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        Path(path).unlink(missing_ok=True)
        total -= size


def load_result(key: str) -> tuple[list[dict], dict] | None:
    if not enabled():
        return None
    path = _root() / "results" / f"{key}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data["findings"], data["stats"]


def save_result(key: str, findings: list[dict], stats: dict) -> None:
    if not enabled():
        return
    text = json.dumps({"findings": findings, "stats": stats}, ensure_ascii=False).encode("utf-8")
    try:
        _atomic_write(_root() / "results" / f"{key}.json", lambda f: f.write(text))
    except OSError as err:
        log.debug("validation cache not written: %s", err)


def _languages_db() -> sqlite3.Connection:
    db = sqlite3.connect(_root() / "languages.sqlite", timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # a cache: a crash may lose the last entries, never corrupt
    db.execute("CREATE TABLE IF NOT EXISTS detected (detector TEXT, text TEXT, lang TEXT, "
               "PRIMARY KEY (detector, text))")
    return db


def detect_cached(texts: list[str], detector: str, detect) -> list[str | None]:
    """``detect(texts)`` for the texts not seen before with this detector; the rest from the cache."""
    if not enabled():
        return detect(texts)
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    try:
        db = _languages_db()
    except (sqlite3.Error, OSError):
        return detect(texts)
    try:
        known: dict[str, str | None] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = db.execute(f"SELECT text, lang FROM detected WHERE detector = ? AND text IN "
                              f"({','.join('?' * len(chunk))})", (detector, *chunk)).fetchall()
            known.update({k: (v or None) for k, v in rows})
        todo = [i for i, k in enumerate(keys) if k not in known]
        if todo:
            found = detect([texts[i] for i in todo])
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO detected VALUES (?, ?, ?)",
                           [(detector, keys[i], lang or "") for i, lang in zip(todo, found)])
            db.execute("COMMIT")
            known.update({keys[i]: lang for i, lang in zip(todo, found)})
        return [known[k] for k in keys]
    finally:
        db.close()
