"""A frozen copy of the corpus pipeline as it was before issue 16 (recipe version 1.0), kept only so that
benchmarks/corpus_throughput.py measures the previous and the current pipeline in the same run.

Same stages and settings as then: old normalisation (no ftfy), the old PII patterns, lingua restricted to
eu/es/en/fr, datatrove's Gopher quality and repetition filters and MinHash signatures (each tokenising
with spaCy's blank Basque pipeline), exact dedup filtered in a stage of its own. It reuses the recipe's
reader, split and parquet adapter, which did not change what they cost.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters.base import BaseFormatter

BASQUE_STOP_WORDS = ["eta", "da", "ez", "bat", "du", "dira", "ere", "baina", "hau", "hori", "zen", "dute", "dago",
                     "izan", "zer", "oso", "bere", "gure", "nire", "beste", "dut", "ditu", "dugu", "den", "dela",
                     "edo", "baino", "gabe", "behar", "egin", "dituzte", "zuen", "ziren", "daude", "aurten"]
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\d[ .-]?){8,11}\d(?![\w.])")
PATTERNS = {"email": (EMAIL, "<EMAIL>"), "ip": (IPV4, "<IP>"), "phone": (PHONE, "<PHONE>")}
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\n{3,}")


class LegacyNormalize(BaseFormatter):
    name = "🔤 normalize (1.0)"

    def format(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        return _NEWLINES.sub("\n\n", text).strip()


class LegacyPII(PipelineStep):
    name = "🕵 PII scrubber (1.0)"
    type = "✂️ - FORMAT"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            with self.track_time():
                for kind, (rx, placeholder) in PATTERNS.items():
                    doc.text, n = rx.subn(placeholder, doc.text)
                    if n:
                        self.stat_update(f"pii_{kind}", value=n)
            yield doc


class LegacyLingua(BaseFilter):
    name = "🌍 lingua language (1.0)"

    def __init__(self, target: str, languages: list[str], threshold: float):
        super().__init__()
        self.target, self.languages, self.threshold = target, sorted(set(languages) | {target}), threshold
        self._detector = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._detector is None:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in self.languages]
            self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
        values = self._detector.compute_language_confidence_values(doc.text[:5000])
        ranked = sorted(((v.value, v.language.iso_code_639_1.name.lower()) for v in values), key=lambda x: (-x[0], x[1]))
        score, code = ranked[0] if ranked and ranked[0][0] > 0 else (0.0, "unknown")
        doc.metadata["language"], doc.metadata["language_score"] = code, round(score, 4)
        if code != self.target:
            return False, f"language_{code}"
        return True if score >= self.threshold else (False, "language_low_confidence")


def _dedup_key(doc) -> bytes:
    return doc.text.encode("utf-8")


def build_legacy_stages(cfg, work: Path) -> list:
    """The 1.0 stage list for ``cfg`` (a current CorpusConfig: sources, language, split, executor, MinHash
    settings and ``min_doc_words`` are read from it; the rest is 1.0's defaults)."""
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    from recipes.corpus.blocks import AssignSplit, RankFileReader, corpus_row
    from recipes.corpus.pipeline import StageSpec, _source_readers

    lang, tasks = cfg.language, cfg.executor.tasks
    first: list[Any] = _source_readers(cfg, work / "problems")
    first += [LegacyNormalize(), LegacyPII(), LegacyLingua(lang, ["eu", "es", "en", "fr"], cfg.steps.language.threshold),
              GopherQualityFilter(language=lang, min_doc_words=cfg.steps.quality.gopher.min_doc_words,
                                  max_avg_word_length=12, min_stop_words=2, stop_words=BASQUE_STOP_WORDS),
              GopherRepetitionFilter(language=lang),
              JsonlWriter(str(work / "s1"), output_filename="${rank}.jsonl.gz")]
    exact_cfg = ExactDedupConfig(content_getter=_dedup_key)
    first.append(ExactDedupSignature(str(work / "exact_sigs"), exact_cfg))
    mh = cfg.steps.near_dedup
    mh_cfg = MinhashConfig(n_grams=mh.n_grams, num_buckets=mh.num_buckets, hashes_per_bucket=mh.hashes_per_bucket,
                           seed=mh.seed)
    return [
        StageSpec("filter", first, tasks),
        StageSpec("exact-find", [ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"), exact_cfg)], 1),
        StageSpec("exact-filter", [RankFileReader(str(work / "s1")), ExactDedupFilter(str(work / "exact_dups"), exact_cfg),
                                   JsonlWriter(str(work / "s3"), output_filename="${rank}.jsonl.gz"),
                                   MinhashDedupSignature(str(work / "mh_sigs"), config=mh_cfg, language=lang)], tasks),
        StageSpec("minhash-buckets", [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"), config=mh_cfg)],
                  mh.num_buckets),
        StageSpec("minhash-cluster", [MinhashDedupCluster(str(work / "mh_buckets"), str(work / "mh_ids"), config=mh_cfg)], 1),
        StageSpec("split-write", [RankFileReader(str(work / "s3")), MinhashDedupFilter(str(work / "mh_ids")),
                                  AssignSplit(cfg.split.validation_fraction, cfg.split.seed),
                                  ParquetWriter(str(work / "out"), output_filename="${split}/${rank}.parquet",
                                                adapter=corpus_row)], tasks),
    ]
