"""Checks of dataset artifacts (corpus, instructions, preferences, eval), in one streaming pass.

Rows are read in pyarrow batches (parquet) or line by line (jsonl, gzip): memory stays bounded by a
batch plus 8 bytes per row for duplicate detection. The same pass computes the statistics that the
dataset card shows.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from hub_tools.artifacts.datalayout import DataLayout, discover_layout, file_format
from hub_tools.artifacts.manifest import ValidationSettings
from hub_tools.text.pii import EMAIL
from hub_tools.validate.findings import Finding, Limiter

EVAL_SPLITS = ("test", "validation", "valid", "dev", "eval")
ROLES = ("system", "user", "assistant")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SECRET_PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "OpenAI key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
}
# Substrings every match of the pattern contains: a cheap test that skips the regex on ~all rows.
SECRET_NEEDLES = {"Hugging Face token": ("hf_",), "OpenAI key": ("sk-",), "AWS access key": ("AKIA", "ASIA"),
                  "private key": ("PRIVATE KEY",)}
# Unicode category Cc except tab, newline and carriage return, plus U+FFFD (a decoding error upstream).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


@dataclass
class RowRef:
    file: str
    row: int | None = None   # 0-based row (parquet)
    line: int | None = None  # 1-based line (jsonl)


@dataclass
class SplitStats:
    rows: int = 0
    chars: int = 0
    words: int = 0
    word_counts: array = field(default_factory=lambda: array("I"))
    sample: list[str] = field(default_factory=list)
    seen: int = 0

    def summary(self) -> dict:
        counts = sorted(self.word_counts)
        def pct(p: float) -> int:
            return counts[min(len(counts) - 1, int(p * (len(counts) - 1)))] if counts else 0
        return {"rows": self.rows, "words": self.words, "chars": self.chars,
                "words_per_row": {"min": pct(0), "p5": pct(0.05), "p50": pct(0.5), "p95": pct(0.95),
                                  "max": pct(1), "mean": round(self.words / self.rows, 2) if self.rows else 0}}


def iter_rows(folder: Path, rel: str, columns: list[str] | None = None,
              batch_size: int = 1000) -> Iterator[tuple[RowRef, dict | None, str | None]]:
    """(where, row, problem): problem is a message for unreadable rows (row is None then)."""
    path = folder / rel
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        cols = [c for c in columns if c in names] if columns else None
        index = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            for row in batch.to_pylist():
                yield RowRef(rel, row=index), row, None
                index += 1
        return
    opener = gzip.open if rel.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RowRef(rel, line=lineno), None, f"HT109:invalid UTF-8 at byte {err.start}"
                continue
            try:
                row = json.loads(text)
            except ValueError as err:
                yield RowRef(rel, line=lineno), None, f"HT101:not valid JSON ({err.msg})"
                continue
            if not isinstance(row, dict):
                yield RowRef(rel, line=lineno), None, "HT101:a JSON line must be an object"
                continue
            yield RowRef(rel, line=lineno), row, None


def features_of(folder: Path, rel: str) -> str:
    """A comparable description of a shard's features."""
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(folder / rel).schema_arrow
        return ", ".join(f"{f.name}: {f.type}" for f in schema)
    kinds: dict[str, set[str]] = {}
    for n, (_, row, _) in enumerate(iter_rows(folder, rel)):
        if row is not None:
            for k, v in row.items():
                kinds.setdefault(k, set()).add(type(v).__name__ if v is not None else "null")
        if n >= 100:
            break
    return ", ".join(f"{k}: {'|'.join(sorted(t - {'null'}) or ['null'])}" for k, t in sorted(kinds.items()))


def _messages_problem(value: Any, name: str) -> str | None:
    if not isinstance(value, list) or not value:
        return f"'{name}' must be a non-empty list of {{role, content}}"
    roles = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            return f"{name}[{i}] must be {{role: system|user|assistant, content: string}}"
        if m["role"] == "system" and i != 0:
            return f"{name}[{i}]: a system turn may only come first"
        roles.append(m["role"])
    if "user" not in roles:
        return f"'{name}' has no user turn"
    if roles[-1] != "assistant":
        return f"'{name}' must end with an assistant turn (it ends with {roles[-1]})"
    return None


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(m.get("content", "") for m in value if isinstance(m, dict) and isinstance(m.get("content"), str))
    return ""


def required_columns(kind: str, columns: set[str]) -> list[str]:
    """Missing columns for ``kind``; an empty list means the schema is there."""
    if kind == "corpus":
        return [c for c in ("text",) if c not in columns]
    if kind == "instructions":
        return [] if "messages" in columns else ["messages"]
    if kind == "preferences":
        trl = ("prompt", "chosen", "rejected")
        layouts = (trl, ("model_a", "model_b", "winner"), ("prompt", "completion", "label"))
        if any(all(c in columns for c in layout) for layout in layouts):
            return []
        return [c for c in trl if c not in columns] + ["(or model_a, model_b, winner; or prompt, completion, label)"]
    return [] if columns else ["(any column)"]


def row_text(kind: str, row: dict) -> tuple[str, str | None, str | None]:
    """(text to check, schema problem, field) for one row of ``kind``."""
    if kind == "corpus":
        text = row.get("text")
        if not isinstance(text, str):
            return "", "'text' must be a string", "text"
        return text, None, "text"
    if kind == "instructions":
        problem = _messages_problem(row.get("messages"), "messages")
        return _content(row.get("messages")), problem, "messages"
    if kind == "preferences":
        if "winner" in row and row["winner"] not in WINNERS:
            return "", f"winner {row['winner']!r} is not one of {', '.join(WINNERS)}", "winner"
        if "label" in row and not isinstance(row["label"], bool):
            return "", f"'label' must be true or false, not {row['label']!r}", "label"
        parts = [_content(row.get(k)) for k in ("prompt", "chosen", "rejected", "completion", "conv_a", "conv_b")
                 if k in row]
        for k in ("chosen", "rejected", "completion"):
            if k in row and not isinstance(row[k], (str, list)):
                return "", f"'{k}' must be a string or a list of messages", k
        return "\n".join(parts), None, None
    return "\n".join(str(v) for v in row.values() if isinstance(v, str)), None, None


def build_detector(languages: list[str], considered: list[str]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = []
    for code in dict.fromkeys(languages + considered):
        try:
            langs.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
        except (AttributeError, ValueError):
            continue
    if len(langs) < 2:  # lingua needs a choice; English is the usual confusion
        langs.append(Language.ENGLISH if Language.ENGLISH not in langs else Language.SPANISH)
    return LanguageDetectorBuilder.from_languages(*langs).build()


def check_dataset(folder: Path, kind: str, languages: list[str], settings: ValidationSettings,
                  artifact: str | None = None, layout: DataLayout | None = None) -> tuple[list[Finding], dict]:
    """All dataset checks; returns (findings, statistics for the card)."""
    findings: list[Finding] = []
    limiter = Limiter(settings.max_findings_per_check)

    def report(code: str, message: str, ref: RowRef | None = None, field_name: str | None = None,
               file: str | None = None) -> None:
        f = file or (ref.file if ref else None)
        if limiter.allow(code, f):
            findings.append(Finding(code, message, file=f, row=ref.row if ref else None,
                                    line=ref.line if ref else None, field=field_name, artifact=artifact))

    layout = layout or discover_layout(folder)
    for p in layout.problems:
        findings.append(Finding("HT112", p.message, file=p.file, line=p.line, artifact=artifact))
    if not layout.files:
        findings.append(Finding("HT113", "no data files (parquet or jsonl) under data/", file="data/",
                                artifact=artifact))
        return findings, {}

    rng = random.Random(0)
    stats: dict[str, Any] = {"configs": {}, "sources": {}, "format": sorted({file_format(f) for f in layout.files})}
    samples: list[str] = []
    for config, splits in layout.configs.items():
        reference: tuple[str, str] | None = None
        eval_hashes: set[int] = set()
        cfg_stats: dict[str, Any] = {"splits": {}}
        ordered = sorted(splits, key=lambda s: (s not in EVAL_SPLITS, s))  # eval splits first: leakage check
        for split in ordered:
            st = SplitStats()
            seen: set[int] = set()
            is_train = split == "train"
            for rel in splits[split]:
                try:
                    feats = features_of(folder, rel)
                except Exception as err:  # unreadable file: arrow/gzip/OS errors
                    report("HT101", f"cannot read: {err}", file=rel)
                    continue
                if reference is None:
                    reference = (rel, feats)
                    cfg_stats["features"] = feats
                elif feats != reference[1]:
                    report("HT104", f"features [{feats}] differ from {reference[0]} [{reference[1]}]", file=rel)
                columns = {c.split(":")[0] for c in feats.split(", ") if c}
                missing = required_columns(kind, columns)
                if missing:
                    report("HT102", f"{kind} data needs column(s) {', '.join(missing)}; found {sorted(columns)}",
                           file=rel)
                    continue
                try:
                    for ref, row, problem in iter_rows(folder, rel):
                        if problem is not None:
                            code, _, msg = problem.partition(":")
                            report(code, msg, ref)
                            continue
                        text, schema_problem, fname = row_text(kind, row)
                        if schema_problem:
                            report("HT103", schema_problem, ref, fname)
                            continue
                        _check_text(text, ref, fname, report)
                        st.rows += 1
                        n_words = len(text.split())
                        st.words += n_words
                        st.chars += len(text)
                        st.word_counts.append(min(n_words, 2**32 - 1))
                        if kind == "corpus" and isinstance(row.get("source"), str):
                            stats["sources"][row["source"]] = stats["sources"].get(row["source"], 0) + 1
                        if not text.strip():
                            continue
                        h = int.from_bytes(hashlib.blake2b(text.strip().encode(), digest_size=8).digest(), "big")
                        if h in seen:
                            report("HT106", f"duplicate of an earlier row in split {split!r}", ref, fname)
                        seen.add(h)
                        if is_train and h in eval_hashes:
                            report("HT107", f"train row also appears in an evaluation split of config {config!r}",
                                   ref, fname)
                        st.seen += 1  # reservoir sample for language identification
                        if len(st.sample) < settings.language_sample:
                            st.sample.append(text[:1000])
                        else:
                            j = rng.randrange(st.seen)
                            if j < settings.language_sample:
                                st.sample[j] = text[:1000]
                except Exception as err:  # a corrupt page or gzip stream half-way through
                    report("HT101", f"cannot read past a point: {err}", file=rel)
            if split in EVAL_SPLITS:
                eval_hashes |= seen
            cfg_stats["splits"][split] = st.summary()
            samples.extend(st.sample)
            if languages and st.sample:
                _check_language(st.sample, languages, settings, config, split, splits[split][0], report, stats)
        cfg_stats["splits"] = {s: cfg_stats["splits"][s] for s in splits if s in cfg_stats["splits"]}
        stats["configs"][config] = cfg_stats
    if languages and samples:
        stats["language_share"] = _language_share(samples, languages, settings)
    stats["rows_total"] = sum(s["rows"] for c in stats["configs"].values() for s in c["splits"].values())
    stats["words_total"] = sum(s["words"] for c in stats["configs"].values() for s in c["splits"].values())
    stats["bytes_total"] = sum((folder / f).stat().st_size for f in layout.files)
    findings.extend(limiter.summaries(artifact))
    return findings, stats


def _check_text(text: str, ref: RowRef, fname: str | None, report) -> None:
    if not text.strip():
        report("HT105", "empty or whitespace-only text", ref, fname)
        return
    m = CONTROL.search(text)
    if m:
        bad = m.group()
        what = "U+FFFD (a decoding error upstream)" if bad == "\ufffd" else f"control character U+{ord(bad):04X}"
        report("HT109", f"{what} at offset {m.start()}", ref, fname)
    for name, rx in SECRET_PATTERNS.items():
        m = rx.search(text) if any(n in text for n in SECRET_NEEDLES[name]) else None
        if m:
            report("HT110", f"{name} at offset {m.start()} ({m.group()[:6]}…)", ref, fname)
    m = EMAIL.search(text) if "@" in text else None
    if m:
        report("HT111", f"e-mail address at offset {m.start()}", ref, fname)


_DETECTORS: dict[tuple, Any] = {}


def _detect(samples: list[str], languages: list[str], settings: ValidationSettings) -> list[str | None]:
    key = (tuple(languages), tuple(settings.languages_considered))
    if key not in _DETECTORS:
        _DETECTORS[key] = build_detector(languages, settings.languages_considered)
    out = []
    for lang in _DETECTORS[key].detect_languages_in_parallel_of(samples):
        out.append(lang.iso_code_639_1.name.lower() if lang is not None else None)
    return out


def _language_share(samples: list[str], languages: list[str], settings: ValidationSettings) -> dict[str, float]:
    detected = _detect(samples, languages, settings)
    share: dict[str, float] = {}
    for code in detected:
        key = code or "unknown"
        share[key] = share.get(key, 0) + 1 / len(detected)
    return {k: round(v, 4) for k, v in sorted(share.items(), key=lambda kv: -kv[1])}


def _check_language(sample: list[str], languages: list[str], settings: ValidationSettings, config: str,
                    split: str, first_file: str, report, stats: dict) -> None:
    detected = _detect(sample, languages, settings)
    ok = sum(1 for d in detected if d in languages) / len(detected)
    stats.setdefault("language_share_by_split", {})[f"{config}/{split}"] = round(ok, 4)
    if ok < settings.language_threshold:
        others: dict[str, int] = {}
        for d in detected:
            if d not in languages:
                others[d or "unknown"] = others.get(d or "unknown", 0) + 1
        top = ", ".join(f"{k}: {v}" for k, v in sorted(others.items(), key=lambda kv: -kv[1])[:3])
        report("HT108", f"config {config!r} split {split!r}: {ok:.0%} of {len(detected)} sampled rows are in "
                        f"{'/'.join(languages)} (threshold {settings.language_threshold:.0%}); others: {top}",
               file=first_file)
