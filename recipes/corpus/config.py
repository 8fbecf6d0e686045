"""The corpus recipe's config (YAML). Relative paths are resolved against the config file's folder."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config_io import ConfigError, load_yaml_config  # noqa: F401  (ConfigError: the corpus CLI's)
from ..config_io import StrictModel as _Strict


class Source(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Kept in every document's metadata.")
    path: str | None = Field(None, description="A file or folder (txt, jsonl, parquet; .gz/.zst).")
    hub: str | None = Field(None, description="Or an HF dataset repo id, read with datasets (streaming).")
    split: str = "train"
    revision: str | None = None
    format: Literal["auto", "txt", "jsonl", "parquet"] = "auto"
    glob: str | None = Field(None, description="Files of a folder to read, e.g. '*.jsonl.gz'.")
    text_key: str = "text"
    id_key: str = "id"
    license: str | None = Field(None, description="Licence of this source's text (a Hub licence id, e.g. "
                                                  "cc-by-sa-4.0); carried into hubtool.json and the card.")
    attribution: str | None = Field(None, description="Who to credit for this source, and where it comes from.")

    @model_validator(mode="after")
    def _one_location(self) -> "Source":
        if (self.path is None) == (self.hub is None):
            raise ValueError(f"source {self.name!r}: give exactly one of `path` or `hub`")
        return self

    @field_validator("license")
    @classmethod
    def _known_license(cls, value: str | None) -> str | None:
        from hub_tools.artifacts.licenses import HUB_LICENSES

        if value is not None and value not in HUB_LICENSES:
            raise ValueError(f"unknown licence id {value!r}: use a Hub licence id (e.g. cc-by-sa-4.0, gpl-3.0) "
                             "or `other` with an `attribution`")
        return value


class Limits(_Strict):
    """Cheap checks before any tokenisation: what exceeds them is never tokenised (nor, for txt/jsonl
    lines, even held in memory whole)."""

    max_doc_chars: int = Field(1_000_000, ge=1, description="Longer documents are dropped (reason too_long).")
    max_line_chars: int = Field(100_000, ge=1, description="A document with a longer line is dropped "
                                "(line_too_long); a txt line or jsonl record too long to hold such a document "
                                "is skipped while reading, as an input problem (line_too_long).")


class LanguageStep(_Strict):
    enabled: bool = True
    threshold: float = Field(0.5, ge=0, le=1, description="Minimum language score of the target language: CLD2's "
                             "share of the text in it, or lingua's confidence where CLD2 is unsure.")
    max_chars: int = Field(10_000, ge=100, description="Characters of each document the language ID reads.")


class GopherQuality(_Strict):
    """Gopher's quality rules over words (tokens with a letter or digit: punctuation is not a word).
    ``None`` on a language-dependent threshold means: take it from the language's thresholds profile."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = Field(None, description="From the profile when unset.")
    max_avg_word_length: float | None = Field(None, description="From the profile when unset.")
    min_alpha_words_ratio: float | None = Field(None, description="Minimum share of words with a letter "
                                                "(Gopher's 80% rule); from the profile when unset.")
    min_stop_words: int | None = Field(None, description="Minimum number of distinct stop words in a document; "
                                       "from the profile when unset.")
    stop_words: list[str] | None = Field(None, description="The stop-word list; from the profile when unset.")
    max_symbol_word_ratio: float | None = Field(0.1, description="Maximum '#' or ellipses per word.")
    max_bullet_lines_ratio: float | None = Field(0.9, description="Maximum share of lines starting with a bullet.")
    max_ellipsis_lines_ratio: float | None = Field(0.3, description="Maximum share of lines ending with an ellipsis.")


class GopherRepetition(_Strict):
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[list[float]] = Field(default_factory=lambda: [[2, 0.2], [3, 0.18], [4, 0.16]])
    dup_n_grams: list[list[float]] = Field(default_factory=lambda: [[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12],
                                                                    [9, 0.11], [10, 0.10]])


class C4Quality(_Strict):
    enabled: bool = False
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = 3
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


class QualityStep(_Strict):
    enabled: bool = True
    thresholds: str | None = Field(None, description="A thresholds profile (JSON, from `hubtool recipe "
                                   "corpus-thresholds`); default: the one shipped for the language.")
    gopher: GopherQuality = Field(default_factory=GopherQuality)
    repetition: GopherRepetition = Field(default_factory=GopherRepetition)
    c4: C4Quality = Field(default_factory=C4Quality)
    bad_words: list[str] = Field(default_factory=list, description="Drop documents containing any of these words.")


class Toggle(_Strict):
    enabled: bool = True


class NearDedupStep(_Strict):
    enabled: bool = True
    n_grams: int = 5
    num_buckets: int = 14
    hashes_per_bucket: int = 8
    seed: int = 1


class PIIStep(_Strict):
    enabled: bool = True
    emails: bool = True
    phones: bool = True
    ips: bool = True
    extra_regions: list[str] = Field(default_factory=lambda: ["US", "GB"], description="Phone-number regions "
                                     "(ISO 3166-1) besides those of the corpus language, e.g. for numbers "
                                     "written the North American way.")


class Steps(_Strict):
    normalize: Toggle = Field(default_factory=Toggle)
    language: LanguageStep = Field(default_factory=LanguageStep)
    pii: PIIStep = Field(default_factory=PIIStep)
    quality: QualityStep = Field(default_factory=QualityStep)
    exact_dedup: Toggle = Field(default_factory=Toggle)
    near_dedup: NearDedupStep = Field(default_factory=NearDedupStep)


class SplitConfig(_Strict):
    validation_fraction: float = Field(0.05, ge=0, lt=1)
    seed: int = 0


class SlurmConfig(_Strict):
    partition: str = "cpu"
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    sbatch_args: dict[str, str] = Field(default_factory=dict)


class ExecutorConfig(_Strict):
    type: Literal["local", "slurm", "ray"] = "local"
    tasks: int = Field(4, ge=1, description="Shards of the work. Fixed per config: output does not depend on workers.")
    workers: int = Field(1, ge=1, description="Parallel processes (local); --workers overrides it.")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)


class CorpusConfig(_Strict):
    name: str
    language: str = Field("eu", description="ISO 639-1 code of the target language (known to lingua and CLD2).")
    version: str = "1.0"
    sources: list[Source] = Field(min_length=1)
    on_error: Literal["skip", "stop"] = Field("skip", description="Bad input: skip and count, or stop the run.")
    limits: Limits = Field(default_factory=Limits)
    steps: Steps = Field(default_factory=Steps)
    split: SplitConfig = Field(default_factory=SplitConfig)
    output: str = "out/corpus"
    work_dir: str | None = Field(None, description="Intermediate files; default <output>.work")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    seed: int = 0

    _base: Path = Path(".")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from .language import unsupported_reason

        reason = unsupported_reason(value)
        if reason:
            raise ValueError(reason)
        return value

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base / p).resolve()


def load_config(path: str | Path) -> CorpusConfig:
    """The config, with the quality thresholds profile checked too (a missing one names its key)."""
    cfg = load_yaml_config(path, CorpusConfig)
    if cfg.steps.quality.enabled:
        from .thresholds import ThresholdsError, resolve_quality

        try:
            resolve_quality(cfg)
        except ThresholdsError as err:
            raise ConfigError(f"{path}: steps.quality.thresholds: {err}") from None
    return cfg
