"""Scale: 200 files and a 200 MB file in one commit, read back byte-identical with bounded server memory."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from huggingface_hub import HfApi, snapshot_download

BIG = 200 * 1024 * 1024
CHUNK = 4 * 1024 * 1024


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


class PeakRss:
    """A process's peak resident memory over a block, as the kernel counts it: entering resets the process's
    high-water mark (`5` to /proc/PID/clear_refs, Linux >= 4.0), leaving reads VmHWM from /proc/PID/status.
    Unlike sampling, no short peak between two samples can be missed, however busy the machine is."""

    def __init__(self, pid: int):
        self.pid = pid

    def _status_bytes(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024  # kB
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def __enter__(self) -> "PeakRss":
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.baseline = self._status_bytes("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        self.peak = self._status_bytes("VmHWM")


@pytest.mark.slow
def test_200_files_and_a_200mb_file_in_one_commit(hub, api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    folder = tmp_path / "upload"
    (folder / "shards").mkdir(parents=True)
    expected = {}
    for i in range(200):
        data = f"shard {i}\n".encode() * (i + 1)
        (folder / "shards" / f"part-{i:03d}.txt").write_bytes(data)
        expected[f"shards/part-{i:03d}.txt"] = hashlib.sha256(data).hexdigest()
    with open(folder / "big.bin", "wb") as f:
        seed = os.urandom(CHUNK)
        for i in range(BIG // CHUNK):
            f.write(hashlib.sha256(seed + bytes([i % 256])).digest() * (CHUNK // 32))
    expected["big.bin"] = _sha256(folder / "big.bin")

    api.create_repo(repo)
    with PeakRss(hub.pid) as upload_mem:
        commit = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="200 files + 200 MB")
    assert len(api.list_repo_commits(repo)) == 2  # initial commit + exactly one

    with PeakRss(hub.pid) as download_mem:
        snap = snapshot_download(repo, revision=commit.oid, cache_dir=tmp_path / "cache")
    for path, digest in expected.items():
        assert _sha256(os.path.join(snap, path)) == digest, path

    # The 200 MB body is streamed to disk and from disk in 1 MiB chunks: memory must not grow with it (a server
    # that held the body would peak at least BIG above its baseline).
    limit = BIG // 2
    assert upload_mem.peak - upload_mem.baseline < limit, (upload_mem.baseline, upload_mem.peak)
    assert download_mem.peak - download_mem.baseline < limit, (download_mem.baseline, download_mem.peak)
