"""datatrove pipeline blocks the corpus recipe adds to datatrove's own (readers, Gopher/C4 filters,
exact and MinHash dedup, writers): a strict multi-format source reader, text normalisation, lingua
language identification, PII scrubbing with counts, and a deterministic split.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline

from hub_tools.errors import HubtoolError
from hub_tools.text.pii import scrub
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.readers.jsonl import JsonlReader


class InputProblem(HubtoolError, RuntimeError):
    """Bad input with ``on_error: stop``."""


def infer_format(path: str) -> str:
    low = path.lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        if low.endswith(suffix):
            low = low[: -len(suffix)]
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "txt"


class SourceReader(BaseDiskReader):
    """Reads one named source (txt: documents separated by blank lines; jsonl; parquet; gz/zst).

    Every problem (undecodable line, malformed JSON, missing text, unreadable file) is counted as a stat
    ``input_<reason>`` and written with its file and line to ``problems_folder/<rank>.jsonl``;
    with ``on_error="stop"`` the first one raises :class:`InputProblem` instead.
    """

    name = "📖 source reader"

    def __init__(self, data_folder: DataFolderLike, source: str, problems_folder: DataFolderLike,
                 fmt: str = "auto", on_error: str = "skip", glob_pattern: str | None = None,
                 text_key: str = "text", id_key: str = "id", paths_file: str | None = None):
        self.name = f"📖 source {source}"  # before super().__init__: the stats keep the name of that moment
        super().__init__(data_folder, paths_file=paths_file, glob_pattern=glob_pattern, text_key=text_key,
                         id_key=id_key, default_metadata={"source": source})
        self.source, self.fmt, self.on_error = source, fmt, on_error
        self.problems_folder = get_datafolder(problems_folder)
        self._problems = None
        self._rank = 0

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank = rank
        try:
            yield from super().run(data, rank, world_size)
        finally:
            if self._problems is not None:
                self._problems.close()
                self._problems = None

    def problem(self, filepath: str, line: int | None, reason: str, detail: str) -> None:
        self.stat_update(f"input_{reason}")
        record = {"source": self.source, "file": filepath, "line": line, "reason": reason, "detail": detail}
        if self._problems is None:
            self._problems = self.problems_folder.open(f"{self._rank:05d}-{self.source}.jsonl", "wt")
        self._problems.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._problems.flush()
        if self.on_error == "stop":
            where = f"{filepath}:{line}" if line else filepath
            raise InputProblem(f"source {self.source!r}: {where}: {reason}: {detail}")

    def _doc(self, text: object, doc_id: object, filepath: str, line: int, extra: dict) -> Document | None:
        if not isinstance(text, str) or not text.strip():
            self.problem(filepath, line, "no_text", f"no text in field {self.text_key!r}")
            return None
        metadata = {"source": self.source, "file": filepath, **{k: v for k, v in extra.items()
                                                                if isinstance(v, (str, int, float, bool))}}
        return Document(text=text, id=str(doc_id) if doc_id is not None else f"{self.source}/{filepath}#{line}",
                        metadata=metadata)

    def read_file(self, filepath: str) -> Iterator[Document]:
        fmt = infer_format(filepath) if self.fmt == "auto" else self.fmt
        try:
            if fmt == "parquet":
                yield from self._read_parquet(filepath)
            else:
                yield from self._read_lines(filepath, fmt)
        except InputProblem:
            raise
        except Exception as err:  # corrupt gzip/parquet, permissions: the rest of this file is unreadable
            self.problem(filepath, None, "unreadable_file", f"{type(err).__name__}: {err}")

    def _read_parquet(self, filepath: str) -> Iterator[Document]:
        import pyarrow.parquet as pq

        with self.data_folder.open(filepath, "rb") as f:
            pf = pq.ParquetFile(f)
            if self.text_key not in pf.schema_arrow.names:
                self.problem(filepath, None, "no_text", f"no column {self.text_key!r} ({pf.schema_arrow.names})")
                return
            index = 0
            for batch in pf.iter_batches(batch_size=1000):
                for row in batch.to_pylist():
                    index += 1
                    with self.track_time():
                        text = row.pop(self.text_key, None)
                        doc = self._doc(text, row.pop(self.id_key, None), filepath, index, row)
                    if doc is not None:
                        yield doc

    def _read_lines(self, filepath: str, fmt: str) -> Iterator[Document]:
        with self.data_folder.open(filepath, "rb", compression="infer") as f:
            paragraph: list[str] = []
            start = 0
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    self.problem(filepath, lineno, "invalid_utf8", f"byte {err.start}: {err.reason}")
                    continue
                if fmt == "jsonl":
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise ValueError("a JSON line must be an object")
                    except ValueError as err:
                        self.problem(filepath, lineno, "malformed_json", str(err)[:200])
                        continue
                    doc = self._doc(row.pop(self.text_key, None), row.pop(self.id_key, None), filepath, lineno, row)
                    if doc is not None:
                        yield doc
                elif line.strip():
                    if not paragraph:
                        start = lineno
                    paragraph.append(line.rstrip("\n"))
                elif paragraph:
                    yield self._doc("\n".join(paragraph), None, filepath, start, {})
                    paragraph = []
            if paragraph:
                yield self._doc("\n".join(paragraph), None, filepath, start, {})


class RankFileReader(JsonlReader):
    """Reads back exactly the file its own rank wrote in an earlier stage (``<rank>.jsonl.gz``), so
    datatrove's dedup filters see documents in the order their signatures were computed, even when
    some ranks wrote nothing."""

    name = "📖 rank file reader"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        path = f"{rank:05d}.jsonl.gz"
        if self.data_folder.exists(path):
            for doc in self.read_file(path):
                self.update_doc_stats(doc)
                yield doc


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\n{3,}")


class NormalizeText(BaseFormatter):
    """Unicode NFC, one kind of newline, runs of spaces collapsed, lines stripped, at most one blank line."""

    name = "🔤 normalize"

    def format(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        return _NEWLINES.sub("\n\n", text).strip()


class LinguaLanguageFilter(BaseFilter):
    """Keeps documents whose most likely language (lingua, restricted to ``languages``) is ``target``
    with confidence >= ``threshold``; records ``language`` and ``language_score`` in metadata."""

    name = "🌍 lingua language"

    def __init__(self, target: str, languages: list[str], threshold: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.target, self.languages, self.threshold = target, sorted(set(languages) | {target}), threshold
        self._detector = None

    def _lingua(self):
        if self._detector is None:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in self.languages]
            self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
        return self._detector

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        values = self._lingua().compute_language_confidence_values(doc.text[:5000])
        # lingua returns ties (e.g. all 0 for text with no evidence) in an order that varies per process
        ranked = sorted(((v.value, v.language.iso_code_639_1.name.lower()) for v in values), key=lambda x: (-x[0], x[1]))
        score, code = ranked[0] if ranked and ranked[0][0] > 0 else (0.0, "unknown")
        doc.metadata["language"] = code
        doc.metadata["language_score"] = round(score, 4)
        if code != self.target:
            return False, f"language_{code}"
        if score < self.threshold:
            return False, "language_low_confidence"
        return True


class PIIScrubber(PipelineStep):
    """Replaces e-mail addresses, phone numbers and IPv4 addresses with placeholders; counts each kind."""

    name = "🕵 PII scrubber"
    type = "✂️ - FORMAT"
    def __init__(self, emails: bool = True, phones: bool = True, ips: bool = True):
        super().__init__()
        self.kinds = tuple(k for k, on in (("email", emails), ("ip", ips), ("phone", phones)) if on)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                doc.text, counts = scrub(doc.text, self.kinds)
            for kind, n in counts.items():
                self.stat_update(f"pii_{kind}", value=n)
                self.stat_update(f"docs_with_{kind}")
            yield doc


class AssignSplit(PipelineStep):
    """``metadata["split"]`` from a hash of the text: the same document lands in the same split whatever
    the order, sharding or number of workers."""

    name = "🔀 split"
    type = "🔀 - SPLIT"

    def __init__(self, validation_fraction: float, seed: int = 0):
        super().__init__()
        self.validation_fraction, self.seed = validation_fraction, seed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            digest = hashlib.sha256(f"{self.seed}\0{doc.text}".encode()).digest()
            bucket = int.from_bytes(digest[:8], "big") / 2**64
            doc.metadata["split"] = "validation" if bucket < self.validation_fraction else "train"
            self.stat_update(doc.metadata["split"])
            yield doc


def corpus_row(self, document: Document) -> dict:
    """ParquetWriter adapter: the corpus artifact's columns."""
    return {"id": document.id, "text": document.text, "source": document.metadata.get("source", ""),
            "language": document.metadata.get("language", ""),
            "language_score": float(document.metadata.get("language_score", 0.0))}
