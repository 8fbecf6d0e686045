"""Exact and near (MinHash) deduplication on datatrove's file formats, with the words tokenised once.

- :class:`DedupSignatures` (in the filter stage, before the writer) computes, per document, the exact-dedup
  hash and the MinHash signature over the word hashes the quality filter already computed (metadata
  ``_word_hashes``, removed here so it is never written), and passes the document on. Shingles are the
  n-gram keys of those hashes; signatures are computed for batches of documents at once (numpy), with
  datatrove's permutations, and written in its file format. Both use the index of the document
  in its task's output, so datatrove's ``ExactFindDedups`` and ``MinhashDedupBuckets`` run unchanged.
- :class:`DedupClusters` (one task) joins MinHash matches into clusters (union-find, as datatrove's
  ``MinhashDedupCluster``), but picks each cluster's survivor among the documents exact dedup keeps, so a
  cluster never loses all its members.
- :class:`DedupFilter` (last stage) drops exact duplicates (reason ``exact_duplicate``) and the other
  members of near-duplicate clusters (``near_duplicate``), reading the same files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import _mersenne_prime as _MERSENNE
from datatrove.utils.typeshelper import ExtensionHelperSD

BATCH_DOCS, BATCH_SHINGLES = 256, 20_000  # signatures computed together; memory ~ shingles x hashes x 8 B


def _mod_mersenne61(x: np.ndarray) -> None:
    """x %= 2**61 - 1 in place, for uint64 x: as 2**61 = 1 (mod p), x = (x >> 61) + (x & p) (mod p), a sum
    below 2p; the same values as numpy's %, in a fraction of its time."""
    high = x >> np.uint64(61)
    x &= _MERSENNE
    x += high
    np.subtract(x, _MERSENNE, out=x, where=x >= _MERSENNE)


def _exact_key(doc) -> bytes:
    """Exact-dedup content (bytes: datatrove reads the type from the annotation, a string here)."""
    return doc.text.encode("utf-8")


class DedupSignatures(PipelineStep):
    """Writes exact-dedup and/or MinHash signatures of every document passing through (then yields it)."""

    type = "🫂 - DEDUP"
    name = "🔏 dedup signatures"

    def __init__(self, exact_folder: DataFolderLike | None, minhash_folder: DataFolderLike | None,
                 minhash_config=None):
        super().__init__()
        from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupSignature
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        self.exact = ExactDedupSignature(exact_folder, ExactDedupConfig(content_getter=_exact_key)) \
            if exact_folder else None
        self.minhash = MinhashDedupSignature(minhash_folder, config=minhash_config) if minhash_folder else None

    def _write_batch(self, batch: list[tuple[int, np.ndarray]], buckets: list, dtype: np.dtype) -> None:
        """MinHash signatures of a batch of (index, shingles) with datatrove's permutations
        ((a*x + b) mod 2**61-1, the product wrapping mod 2**64 as in datatrove), the minimum per document."""
        cfg = self.minhash.config
        a, b = self.minhash.parameters
        shingles = np.concatenate([s for _, s in batch]).reshape(-1, 1)
        starts = np.cumsum([0] + [len(s) for _, s in batch[:-1]])
        phv = shingles * a
        phv += b
        _mod_mersenne61(phv)
        if cfg.hash_config.precision == 32:
            phv &= np.uint64(cfg.hash_config.max)
        mins = np.minimum.reduceat(phv, starts, axis=0).astype(cfg.hash_config.np_dtype)
        per = cfg.hashes_per_bucket
        records = np.empty(len(batch), dtype=dtype)
        records["doc"] = [i for i, _ in batch]
        for bi, bucket in enumerate(buckets):
            for j in range(per):
                records[f"f{j}"] = mins[:, bi * per + j]
            bucket.write(records.tobytes())

    def _dtype(self) -> np.dtype:
        cfg = self.minhash.config
        return np.dtype([(f"f{i}", f"<{cfg.hash_config.struct_format}") for i in range(cfg.hashes_per_bucket)]
                        + [("doc", "<u4")])

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from .quality import WORD_HASHES_KEY, ngram_keys, tokenize, word_hashes

        exact_sigs: list[tuple[int, int, int]] = []
        mh = self.minhash
        buckets, batch, batch_size, written = None, [], 0, 0
        if mh is not None:
            buckets = [mh.output_folder.open(f"bucket_{bi:03d}/{rank:05d}.minhash.sig", mode="wb")
                       for bi in range(mh.config.num_buckets)]
            dtype = self._dtype()
        try:
            for idx, doc in enumerate(data):
                hashes = doc.metadata.pop(WORD_HASHES_KEY, None)
                with self.track_time():
                    self.stat_update("total")
                    if self.exact is not None:
                        exact_sigs.extend(self.exact.get_hashes(doc, idx))
                    if mh is not None:
                        if hashes is None:
                            hashes = word_hashes(tokenize(doc.text))
                        shingles = ngram_keys(hashes, mh.config.n_grams)
                        if len(shingles):
                            batch.append((idx, shingles))
                            batch_size += len(shingles)
                            written += 1
                        if len(batch) >= BATCH_DOCS or batch_size >= BATCH_SHINGLES:
                            self._write_batch(batch, buckets, dtype)
                            batch, batch_size = [], 0
                yield doc
            with self.track_time():
                if batch:
                    self._write_batch(batch, buckets, dtype)
        finally:
            if buckets is not None:
                for f in buckets:
                    f.close()
        with self.track_time():
            if self.exact is not None:
                self.exact.save_hashes(rank, exact_sigs)
            if mh is not None:
                self._sort_buckets(rank, written)

    def _sort_buckets(self, rank: int, docs: int) -> None:
        """datatrove's bucket readers need each signature file sorted."""
        cfg = self.minhash.config
        dtype = self._dtype()
        for bi in range(cfg.num_buckets):
            path = f"bucket_{bi:03d}/{rank:05d}.minhash.sig"
            with self.minhash.output_folder.open(path, mode="rb") as f:
                records = np.frombuffer(f.read(), dtype=dtype)
            if len(records) != docs:
                raise ValueError(f"MinHash signatures of rank {rank}, bucket {bi}: {len(records)} records, "
                                 f"expected {docs}")
            records = np.sort(records, order=list(dtype.names))
            with self.minhash.output_folder.open(path, mode="wb") as f:
                f.write(records.tobytes())


def read_exact_removals(folder: DataFolderLike) -> dict[int, set[int]]:
    """rank -> document indexes that exact dedup removes (datatrove's ``<finder>/<rank>.c4_dup`` files)."""
    folder = get_datafolder(folder)
    out: dict[int, set[int]] = {}
    for path in folder.list_files(glob_pattern="*/*" + ExtensionHelperSD.stage_2_duplicates):
        rank = int(Path(path).name.removesuffix(ExtensionHelperSD.stage_2_duplicates))
        with folder.open(path, "rb") as f:
            out.setdefault(rank, set()).update(np.frombuffer(f.read(), dtype="<u4").tolist())
    return out


class DedupClusters(PipelineStep):
    """MinHash matches -> clusters; writes ``<rank>.remove`` (uint32 indexes) per rank: every member of a
    cluster except its survivor, the first member (by rank, index) that exact dedup keeps."""

    type = "🫂 - DEDUP"
    name = "🎯 MinHash clusters"

    def __init__(self, dups_folder: DataFolderLike, output_folder: DataFolderLike,
                 exact_folder: DataFolderLike | None = None):
        super().__init__()
        self.dups_folder, self.output_folder = get_datafolder(dups_folder), get_datafolder(output_folder)
        self.exact_folder = exact_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        parent: dict[tuple[int, int], tuple[int, int]] = {}

        def find(x):
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        with self.track_time():
            for path in self.dups_folder.list_files(glob_pattern="*.dups"):
                with self.dups_folder.open(path, "rb") as f:
                    pairs = np.frombuffer(f.read(), dtype="<u4").reshape(-1, 4)
                for f1, d1, f2, d2 in pairs.tolist():
                    a, b = find((f1, d1)), find((f2, d2))
                    if a != b:
                        parent[max(a, b)] = min(a, b)
            exact = read_exact_removals(self.exact_folder) if self.exact_folder else {}
            clusters: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for node in parent.keys() | set(parent.values()):
                clusters.setdefault(find(node), []).append(node)
            removals: dict[int, list[int]] = {}
            for members in clusters.values():
                members.sort()
                kept = [m for m in members if m[1] not in exact.get(m[0], ())]
                survivor = kept[0] if kept else None
                self.stat_update("clusters")
                for m in members:
                    if m != survivor and m[1] not in exact.get(m[0], ()):
                        removals.setdefault(m[0], []).append(m[1])
                        self.stat_update("to_remove")
            for r, ids in removals.items():
                with self.output_folder.open(f"{r:06d}.remove", "wb") as f:
                    f.write(np.asarray(sorted(ids), dtype="<u4").tobytes())


class DedupFilter(PipelineStep):
    """Drops exact duplicates and near-duplicate cluster members by their index in this rank's input."""

    type = "🫂 - DEDUP"
    name = "🫂 dedup filter"

    def __init__(self, exact_folder: DataFolderLike | None, near_folder: DataFolderLike | None):
        super().__init__()
        self.exact_folder = exact_folder
        self.near_folder = get_datafolder(near_folder) if near_folder else None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        exact = read_exact_removals(self.exact_folder).get(rank, set()) if self.exact_folder else set()
        near: set[int] = set()
        if self.near_folder is not None and self.near_folder.isfile(f"{rank:06d}.remove"):
            with self.near_folder.open(f"{rank:06d}.remove", "rb") as f:
                near = set(np.frombuffer(f.read(), dtype="<u4").tolist())
        for idx, doc in enumerate(data):
            self.stat_update("total")
            if idx in exact:
                self.stat_update("dropped", "dropped_exact_duplicate")
                continue
            if idx in near:
                self.stat_update("dropped", "dropped_near_duplicate")
                continue
            self.stat_update("forwarded")
            yield doc
