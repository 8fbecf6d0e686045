"""datatrove pipeline blocks the corpus recipe adds to datatrove's own (readers, C4 filter, dedup file
formats, writers): a strict multi-format source reader with bounded line reads, cheap length checks,
text normalisation (mojibake repair with ftfy, control characters removed), PII scrubbing with counts, a
deterministic split and the count of PII in what gets published. Language ID is in language.py, the
quality rules in quality.py, deduplication in dedup.py.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.readers.jsonl import JsonlReader

from hub_tools.errors import HubtoolError
from hub_tools.text.pii import KINDS, detect, placeholders, scrub


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
                 text_key: str = "text", id_key: str = "id", paths_file: str | None = None,
                 max_doc_chars: int = 1_000_000, max_line_chars: int = 100_000):
        self.name = f"📖 source {source}"  # before super().__init__: the stats keep the name of that moment
        super().__init__(data_folder, paths_file=paths_file, glob_pattern=glob_pattern, text_key=text_key,
                         id_key=id_key, default_metadata={"source": source})
        self.source, self.fmt, self.on_error = source, fmt, on_error
        self.max_doc_chars, self.max_line_chars = max_doc_chars, max_line_chars
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

    def _line_limit(self, fmt: str) -> int:
        """Bytes a line may have: a jsonl line holds a whole document (JSON escapes take up to 6 bytes per
        character), a txt line one line of one (UTF-8: up to 4 bytes per character)."""
        return 6 * self.max_doc_chars + 65_536 if fmt == "jsonl" else 4 * self.max_line_chars

    @staticmethod
    def _bounded_lines(f, limit: int) -> Iterator[tuple[bytes | None, int]]:
        """(line, size): lines up to ``limit`` bytes; a longer one is read through in 1 MiB pieces and
        comes back as (None, its size), never held whole."""
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            if len(raw) > limit and not raw.endswith(b"\n"):
                size = len(raw)
                while True:
                    piece = f.readline(1 << 20)
                    size += len(piece)
                    if not piece or piece.endswith(b"\n"):
                        break
                yield None, size
                continue
            yield raw, len(raw)

    def _read_lines(self, filepath: str, fmt: str) -> Iterator[Document]:
        limit = self._line_limit(fmt)
        with self.data_folder.open(filepath, "rb", compression="infer") as f:
            paragraph: list[str] = []
            chars, start, too_long = 0, 0, False
            for lineno, (raw, size) in enumerate(self._bounded_lines(f, limit), 1):
                if raw is None:
                    self.problem(filepath, lineno, "line_too_long", f"{size:,} bytes, over the {limit:,} that "
                                 "limits.max_doc_chars/max_line_chars allow; skipped unread")
                    if fmt != "jsonl":
                        paragraph, chars, too_long = [], 0, True  # the rest of this document goes too
                    continue
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
                    if too_long:
                        continue
                    if not paragraph:
                        start = lineno
                    paragraph.append(line.rstrip("\n"))
                    chars += len(line)
                    if chars > self.max_doc_chars:
                        self.problem(filepath, start, "too_long", f"document over {self.max_doc_chars:,} "
                                     "characters (limits.max_doc_chars); skipped")
                        paragraph, chars, too_long = [], 0, True
                else:
                    if paragraph:
                        yield self._doc("\n".join(paragraph), None, filepath, start, {})
                    paragraph, chars, too_long = [], 0, False
            if paragraph:
                yield self._doc("\n".join(paragraph), None, filepath, start, {})


class RankFileReader(JsonlReader):
    """Reads back exactly the file its own rank wrote in an earlier stage (``<rank>.jsonl[.gz]``), so
    datatrove's dedup filters see documents in the order their signatures were computed, even when
    some ranks wrote nothing."""

    name = "📖 rank file reader"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for path in (f"{rank:05d}.jsonl", f"{rank:05d}.jsonl.gz"):
            if self.data_folder.exists(path):
                for doc in self.read_file(path):
                    self.update_doc_stats(doc)
                    yield doc


_SPACE_MAP = {c: " " for c in (0x00A0, *range(0x2000, 0x200C), 0x202F, 0x205F, 0x3000)}  # and tabs
_RUNS = re.compile(r" {2,}")
_NEWLINES = re.compile(r"\n{3,}")
# What ftfy can repair: C1 controls and UTF-8 read as Windows-1252/Latin-1 (a lead byte Â-ô followed by a
# continuation byte shown as a Windows-1252 or Latin-1 character), and terminal escapes. Text without
# any of these is left to the cheap steps: ftfy reads about 2 MB/s, this check hundreds.
_MOJIBAKE_HINT = re.compile("[\x80-\x9f\x1b]|[\u00c2-\u00f4][\u00a0-\u00bf\u0152\u0153\u0160\u0161\u0178"
                            "\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026"
                            "\u2030\u2039\u203a\u20ac\u2122]")


def _control_chars():
    from hub_tools.validate.dataset_checks import CONTROL  # what `hubtool validate` rejects (HT109)

    return CONTROL


class NormalizeText(BaseFormatter):
    """Mojibake and C1 controls repaired (ftfy), other control characters and U+FFFD removed (exactly what
    `hubtool validate` rejects), Unicode NFC, one kind of newline, runs of spaces collapsed, lines
    stripped, at most one blank line. Quotes, ligatures and widths are left as written."""

    name = "🔤 normalize"

    def __init__(self):
        super().__init__()
        self._control = _control_chars()
        self._ftfy_config = None

    def _repair(self, text: str) -> str:
        import ftfy

        if self._ftfy_config is None:
            self._ftfy_config = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False,
                                                     fix_latin_ligatures=False, fix_character_width=False,
                                                     fix_line_breaks=True, normalization="NFC")
        self.stat_update("ftfy_checked")
        fixed = ftfy.fix_text(text, self._ftfy_config)
        if fixed != text:
            self.stat_update("ftfy_repaired")
        return fixed

    def format(self, text: str) -> str:
        plain = text.isascii()  # the common case: no mojibake, no exotic spaces, already NFC
        if not plain:
            if _MOJIBAKE_HINT.search(text):
                text = self._repair(text)
            text = unicodedata.normalize("NFC", text).translate(_SPACE_MAP)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text, removed = self._control.subn("", text.replace("\t", " "))
        if removed:
            self.stat_update("control_chars_removed", value=removed)
        if "  " in text:
            text = _RUNS.sub(" ", text)
        if " \n" in text or "\n " in text:
            text = "\n".join(line.strip() for line in text.split("\n"))
        if "\n\n\n" in text:
            text = _NEWLINES.sub("\n\n", text)
        return text.strip()


class LengthFilter(BaseFilter):
    """Cheap checks before any tokenisation: documents over ``max_doc_chars`` characters or with a line
    over ``max_line_chars`` are dropped (``too_long``, ``line_too_long``), and so are empty ones."""

    name = "📏 length"

    def __init__(self, max_doc_chars: int, max_line_chars: int, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_doc_chars, self.max_line_chars = max_doc_chars, max_line_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        if len(text) > self.max_doc_chars:
            return False, "too_long"
        if len(text) > self.max_line_chars and max(map(len, text.split("\n"))) > self.max_line_chars:
            return False, "line_too_long"
        if not text.strip():
            return False, "empty"
        return True


class PIIScrubber(PipelineStep):
    """Replaces e-mail addresses, phone numbers (valid in one of ``regions``) and IPv4 addresses with
    placeholders; counts each kind, and records the document's own counts in ``metadata["pii_replaced"]``
    so that the last stage can count what the published rows had replaced."""

    name = "🕵 PII scrubber"
    type = "✂️ - FORMAT"

    def __init__(self, emails: bool = True, phones: bool = True, ips: bool = True,
                 regions: tuple[str, ...] = ()):
        super().__init__()
        self.kinds = tuple(k for k, on in (("email", emails), ("ip", ips), ("phone", phones)) if on)
        self.regions = tuple(regions)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                doc.text, counts = scrub(doc.text, self.kinds, self.regions)
            if counts:
                doc.metadata["pii_replaced"] = counts
            for kind, n in counts.items():
                self.stat_update(f"pii_{kind}", value=n)
                self.stat_update(f"docs_with_{kind}")
            yield doc


class PublishedPII(PipelineStep):
    """Counts, over the documents about to be published, the replacements made in them
    (``replaced_<kind>``), the placeholders they hold (``placeholder_<kind>``) and the PII the same
    detectors still find in them (``contains_<kind>``: non-zero only for kinds not scrubbed)."""

    name = "🔎 PII in published rows"
    type = "🔎 - STATS"

    def __init__(self, regions: tuple[str, ...] = ()):
        super().__init__()
        self.regions = tuple(regions)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                for kind, n in (doc.metadata.pop("pii_replaced", None) or {}).items():
                    self.stat_update(f"replaced_{kind}", value=n)
                for kind, n in placeholders(doc.text).items():
                    self.stat_update(f"placeholder_{kind}", value=n)
                for kind, n in detect(doc.text, KINDS, self.regions).items():
                    self.stat_update(f"contains_{kind}", value=n)
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


def intermediate_row(self, document: Document) -> dict:
    """JsonlWriter adapter for the intermediate files: the fields datatrove's reader takes back, without
    the deep copy its default adapter (``dataclasses.asdict``) makes of every document."""
    return {"text": document.text, "id": document.id, "metadata": document.metadata}
