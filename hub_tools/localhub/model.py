"""The local hub's data model and the rules on what enters it: repos, tree entries, commits, commit
operations, repo paths, and the default LFS file patterns. No I/O here."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from hub_tools.hub import names
from hub_tools.localhub.errors import bad_request

REPO_TYPES = ("model", "dataset", "space")
SPACE_SDKS = ("gradio", "docker", "static", "streamlit")

# Default .gitattributes of a new Hub repo: which files git would keep in LFS.
LFS_SUFFIXES = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gz", ".h5", ".joblib", ".lz4", ".mlmodel",
    ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt",
    ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst",
    ".png", ".jpg", ".jpeg", ".webp", ".gif", ".wav", ".mp3", ".flac", ".ogg", ".mp4",
)
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
REGULAR_MAX_SIZE = 5 * 1024 * 1024  # huggingface_hub reads regular files whole: keep them small

_HEX40 = names.HEX40
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
RESERVED_NAMESPACES = {"api", "datasets", "spaces", "models", "collections", "_lfs", "organizations", "settings"}


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def check_name(part: str, what: str) -> None:
    try:
        names.check_name(part, what)
    except names.InvalidName as err:
        raise bad_request(str(err)) from None


def check_repo_path(path: object) -> str:
    """A path inside a repo: relative, no '..' or empty segments, no control characters."""
    if not isinstance(path, str) or not path or len(path) > 1000:
        raise bad_request(f"Invalid path {path!r}: expected a non-empty relative path")
    if path.startswith("/") or "\\" in path or any(ord(c) < 32 for c in path):
        raise bad_request(f"Invalid path {path!r}: absolute paths, backslashes and control characters are refused")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise bad_request(f"Invalid path {path!r}: '..', '.', empty segments and .git/ are refused")
    return path


def check_ref_name(name: str, what: str = "branch") -> None:
    try:
        names.check_ref_name(name, what)
    except names.InvalidName as err:
        raise bad_request(str(err)) from None


@dataclass(frozen=True)
class Repo:
    id: int
    type: str
    namespace: str
    name: str
    private: bool
    sdk: str | None
    created_at: str

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def url_prefix(self) -> str:
        return "" if self.type == "model" else f"{self.type}s/"


@dataclass(frozen=True)
class Entry:
    """A file in a tree."""

    path: str
    sha256: str
    size: int
    lfs: bool
    git_sha1: str  # git blob id of the content (regular files)

    @property
    def oid(self) -> str:
        """The git object id the Hub reports: the blob of the content, or of the LFS pointer."""
        if self.lfs:
            return git_blob_sha1(lfs_pointer(self.sha256, self.size))
        return self.git_sha1

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_sha1


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    tree_sha: str
    title: str
    message: str
    author: str
    created_at: str


@dataclass
class FileOp:
    """One operation of a commit, already checked for shape. For additions the blob is stored."""

    kind: str  # "add" | "delete_file" | "delete_folder"
    path: str
    sha256: str = ""
    size: int = 0
    lfs: bool = False

def check_no_file_dir_clash(files: dict[str, Entry]) -> None:
    paths = set(files)
    for p in paths:
        parts = p.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in paths:
                raise bad_request(f"Path clash: {prefix!r} is a file, so {p!r} cannot be created under it")


def decode_regular_content(value: dict) -> bytes:
    """Content of a ``file`` line of an NDJSON commit (base64, or utf-8 text)."""
    content = value.get("content")
    if not isinstance(content, str):
        raise bad_request(f"{value.get('path')}: 'content' must be a string")
    encoding = value.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except ValueError:
            raise bad_request(f"{value.get('path')}: content is not valid base64") from None
    if encoding in ("utf-8", "utf8"):
        return content.encode()
    raise bad_request(f"{value.get('path')}: unknown encoding {encoding!r}")


def is_hex(value: object, length: int) -> bool:
    return isinstance(value, str) and bool((_HEX40 if length == 40 else _HEX64).match(value))


def directories_of(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return dirs


def dir_oid(entries: Iterable[Entry]) -> str:
    return hashlib.sha1(json.dumps(sorted((e.path, e.oid) for e in entries)).encode()).hexdigest()

