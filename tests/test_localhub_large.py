"""Scale: 200 files and a 200 MB file in one commit, read back byte-identical with bounded server memory."""
from __future__ import annotations

import hashlib
import os
import threading

import psutil
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
    """Samples a process's resident memory every 20 ms in a thread."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


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

    # The 200 MB body is streamed to disk and from disk in 1 MiB chunks: memory must not grow with it.
    limit = 100 * 1024 * 1024
    assert upload_mem.peak - upload_mem.baseline < limit, (upload_mem.baseline, upload_mem.peak)
    assert download_mem.peak - download_mem.baseline < limit, (download_mem.baseline, download_mem.peak)
