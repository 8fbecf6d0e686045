"""Validate once per content: unchanged data is neither parsed nor hashed again (counted, not timed); the
vectorised row checks agree with Python's own definitions; a dataset without languages pushes."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from click.testing import CliRunner
from huggingface_hub import HfApi

from hub_tools.artifacts import filehash
from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance
from hub_tools.cli import main
from hub_tools.validate import filescan
from hub_tools.validate.textscan import scan_texts

ROWS_PER_SHARD = 300


def _corpus(folder: Path, shards: int = 3, language: list[str] | None = None) -> Path:
    """A corpus of distinct Basque-looking rows in ``shards`` train shards, written "a while ago".

    Rows carry the folder's path, so no two tests share content (the caches are content-addressed)."""
    from hub_tools.samples.tiny_models import sample_sentences

    sentences = sample_sentences()
    for s in range(shards):
        rows = [{"id": f"{s}-{i}", "text": f"{sentences[(s * 7 + i) % len(sentences)]} ({folder.parent.name} {s}-{i})",
                 "source": "test"} for i in range(ROWS_PER_SHARD)]
        path = folder / "data" / f"train-{s:05d}-of-{shards:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path)
    write_provenance(folder, Provenance.create(kind="corpus", name="cache-test",
                                               language=["eu"] if language is None else language,
                                               recipe=RecipeInfo(name="test", version="1")))
    _age(folder)
    return folder


def _age(folder: Path, seconds: int = 60) -> None:
    """Date every file back: files last written a minute ago, as a folder a recipe built earlier."""
    past = time.time() - seconds
    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def _push(folder: Path, repo: str) -> dict:
    result = CliRunner().invoke(main, ["push", str(folder), "--repo", repo, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _counters() -> tuple[int, int, int]:
    """(rows read by validation, files whose rows it read, bytes hashed) so far in this process."""
    return filescan.COUNTERS.rows, filescan.COUNTERS.files, filehash.COUNTERS.bytes_hashed


def test_repush_of_an_unchanged_folder_reads_no_rows(hub, tmp_path, repo_name):
    folder = _corpus(tmp_path / "corpus")
    repo = f"hitz/{repo_name}"
    rows0, files0, hashed0 = _counters()
    first = _push(folder, repo)
    rows1, files1, hashed1 = _counters()
    assert first["commit"] and (rows1 - rows0, files1 - files0) == (3 * ROWS_PER_SHARD, 3)
    data_bytes = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    assert hashed1 - hashed0 >= data_bytes  # read once to hash and validate

    again = _push(folder, repo)
    rows2, files2, hashed2 = _counters()
    assert again["commit"] is None and again["plan"]["summary"]["upload_bytes"] == 0
    assert (rows2 - rows1, files2 - files1, hashed2 - hashed1) == (0, 0, 0)

    # one changed shard: only its rows are read again, only it is uploaded (with the new card)
    changed = folder / "data" / "train-00001-of-00003.parquet"
    table = pq.read_table(changed)
    pq.write_table(table.slice(0, ROWS_PER_SHARD - 10), changed)
    past = time.time() - 30
    os.utime(changed, (past, past))
    third = _push(folder, repo)
    rows3, files3, hashed3 = _counters()
    assert (rows3 - rows2, files3 - files2) == (ROWS_PER_SHARD - 10, 1)
    assert hashed3 - hashed2 == changed.stat().st_size  # hashed once, for validation, planning and upload
    assert {c["path"]: c["action"] for c in third["plan"]["changes"]} == {
        "data/train-00001-of-00003.parquet": "change", "README.md": "change"}
    api = HfApi()
    card = api.hf_hub_download(repo, "README.md", repo_type="dataset")
    assert f"| rows | {3 * ROWS_PER_SHARD - 10:,} |" in Path(card).read_text()


def test_cached_findings_keep_their_locations(tmp_path):
    """Findings served from the cache name the same file and row as the first validation."""
    folder = _corpus(tmp_path / "corpus", shards=2)
    shard = folder / "data" / "train-00001-of-00002.parquet"
    rows = pq.read_table(shard).to_pylist()
    dup_of = pq.read_table(folder / "data" / "train-00000-of-00002.parquet").to_pylist()[5]["text"]
    rows[17]["text"] = dup_of  # a duplicate across shards
    rows[40]["text"] = "Idatzi iker@adibidea.eus helbidera."
    pq.write_table(pa.Table.from_pylist(rows), shard)
    _age(folder)

    def run() -> list[dict]:
        result = CliRunner().invoke(main, ["validate", str(folder), "--json"])
        return sorted((f["code"], f.get("file"), f.get("row")) for f in json.loads(result.stdout)["findings"])

    before = filescan.COUNTERS.rows
    first = run()
    assert filescan.COUNTERS.rows - before == 2 * ROWS_PER_SHARD
    assert first == [("HT106", "data/train-00001-of-00002.parquet", 17),
                     ("HT111", "data/train-00001-of-00002.parquet", 40)]
    before = filescan.COUNTERS.rows
    assert run() == first and filescan.COUNTERS.rows == before


def test_hash_cache_notices_a_same_size_rewrite_and_distrusts_fresh_files(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 1000)
    _age(tmp_path)
    st = path.stat()
    assert filehash.file_hashes(path).sha256 == __import__("hashlib").sha256(b"a" * 1000).hexdigest()
    hashed = filehash.COUNTERS.bytes_hashed
    filehash.file_hashes(path)
    assert filehash.COUNTERS.bytes_hashed == hashed  # trusted: not read again
    path.write_bytes(b"b" * 1000)  # same size, and the same mtime put back: only the ctime tells
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert filehash.file_hashes(path).sha256 == __import__("hashlib").sha256(b"b" * 1000).hexdigest()
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"c" * 10)  # written just now: hashed every time until it is older than RACY_NS
    filehash.file_hashes(fresh)
    hashed = filehash.COUNTERS.bytes_hashed
    filehash.file_hashes(fresh)
    assert filehash.COUNTERS.bytes_hashed == hashed + 10


SPACES = ["\x85", "\xa0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
          "\x1c", "\x1f", "\x0b", "\x0c", "\t", "\n", "\r", " "]


@pytest.mark.parametrize("large", [False, True])
def test_batch_scan_equals_python_definitions(large):
    import random

    rng = random.Random(7)
    alphabet = list("kaixo mundua ñ—“…@_-hfskAKISPRIVTE") + SPACES + ["\x00", "\x07", "\x7f", "\x80", "\x9f",
                                                                     "\ufffd", "\u200b"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 3, 12, 60, 400]))) for _ in range(3000)]
    texts += ["", "   ", "Kaixo  mundua\u00a0bai ", "hf_" + "x" * 34, "sk-proj-" + "y" * 30, "AKIA" + "Z" * 16,
              "-----BEGIN RSA PRIVATE KEY-----", "idatzi iker@adibidea.eus", "ondo\x07"]
    arr = pa.array(["pad"] + texts, pa.large_string() if large else pa.string()).slice(1)
    res = scan_texts(arr)
    from hub_tools.validate.dataset_checks import check_text

    for i, text in enumerate(texts):
        assert res.words[i] == len(text.split()) and res.chars[i] == len(text), repr(text)
        if text.strip():
            assert int(res.hashes[i]) == xxhash.xxh3_64_intdigest(text.strip().encode("utf-8")), repr(text)
            if check_text(text):
                assert i in set(res.suspects.tolist()), repr(text)


def test_push_of_a_dataset_without_languages(hub, tmp_path, repo_name):
    """hubtool.json may declare no language: the card leaves the language section out instead of crashing."""
    folder = _corpus(tmp_path / "nolang", shards=1, language=[])
    out = _push(folder, f"hitz/{repo_name}")
    assert out["commit"]
    card = Path(HfApi().hf_hub_download(f"hitz/{repo_name}", "README.md", repo_type="dataset")).read_text()
    assert "## Languages" not in card and f"| rows | {ROWS_PER_SHARD:,} |" in card


def test_validation_works_without_a_writable_cache(tmp_path, monkeypatch):
    """A HUBTOOL_HOME that cannot hold a cache (here: a file) costs the cache, never the validation."""
    folder = _corpus(tmp_path / "corpus", shards=1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("HUBTOOL_HOME", str(blocker))
    before = filescan.COUNTERS.rows
    for _ in range(2):  # nothing is remembered: both runs read every row
        result = CliRunner().invoke(main, ["validate", str(folder), "--json"])
        assert result.exit_code == 0, result.output
    assert filescan.COUNTERS.rows - before == 2 * ROWS_PER_SHARD
