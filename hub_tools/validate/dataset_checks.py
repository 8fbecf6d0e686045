"""Checks of dataset artifacts (corpus, instructions, preferences, eval), and the statistics the card shows.

Each data file is read in one streaming pass (:mod:`hub_tools.validate.filescan`: parquet in Arrow
batches, jsonl line by line), once per content thanks to :mod:`hub_tools.validate.cache`. Memory stays
bounded by a batch plus, per row of the split being combined, its 8-byte fingerprint and 8-byte location
(16 bytes a row, held for the split; ``np.unique`` briefly needs about as much again to sort them) and
the eval splits' fingerprints for the leakage check.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import numpy as np

from hub_tools.artifacts.datalayout import DataLayout, discover_layout, file_format
from hub_tools.artifacts.manifest import ValidationSettings
from hub_tools.text.pii import EMAIL
from hub_tools.validate import cache
from hub_tools.validate.filescan import FileScan, scan_all
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
    """All dataset checks; returns (findings, statistics for the card).

    Each data file is scanned once per content (:mod:`hub_tools.validate.filescan`, cached by sha256);
    this function only combines the scans: features across shards, duplicates and leakage from the row
    fingerprints, language shares from the merged samples. A whole unchanged artifact is answered from
    the cache without reading any data file."""
    from hub_tools.artifacts.filehash import file_hashes

    layout = layout or discover_layout(folder)
    layout_findings = [Finding("HT112", p.message, file=p.file, line=p.line, artifact=artifact)
                       for p in layout.problems]
    if not layout.files:
        return layout_findings + [Finding("HT113", "no data files (parquet or jsonl) under data/", file="data/",
                                          artifact=artifact)], {}
    hashes = {rel: file_hashes(folder / rel).sha256 for rel in layout.files}
    key = cache.key_of("dataset", kind, languages, settings.model_dump(), layout.configs,
                       [p.__dict__ for p in layout.problems], hashes)
    hit = cache.load_result(key)
    if hit is not None:
        found, stats = hit
        return [Finding(**{k: v for k, v in f.items() if k not in ("severity", "hint")}, artifact=artifact)
                for f in found], stats
    findings, stats = _combine(folder, kind, languages, settings, layout, artifact)
    findings = layout_findings + findings
    cache.save_result(key, [{k: v for k, v in f.to_dict().items() if k not in ("artifact", "location")}
                            for f in findings], stats)
    return findings, stats


def _percentiles(hist: dict[int, int]) -> dict:
    values = np.array(sorted(hist), dtype=np.int64)
    counts = np.array([hist[v] for v in values.tolist()], dtype=np.int64)
    total = int(counts.sum())
    cum = np.cumsum(counts)

    def pct(p: float) -> int:
        if not total:
            return 0
        k = min(total - 1, int(p * (total - 1)))
        return int(values[np.searchsorted(cum, k, side="right")])
    return {"min": pct(0), "p5": pct(0.05), "p50": pct(0.5), "p95": pct(0.95), "max": pct(1)}


def _combine(folder: Path, kind: str, languages: list[str], settings: ValidationSettings, layout: DataLayout,
             artifact: str | None) -> tuple[list[Finding], dict]:
    findings: list[Finding] = []
    limiter = Limiter(settings.max_findings_per_check)

    def report(code: str, message: str, file: str | None, row: int | None = None, line: int | None = None,
               field_name: str | None = None) -> None:
        if limiter.allow(code, file):
            findings.append(Finding(code, message, file=file, row=row, line=line, field=field_name,
                                    artifact=artifact))

    stats: dict[str, Any] = {"configs": {}, "sources": {}, "format": sorted({file_format(f) for f in layout.files})}
    samples: list[str] = []
    for config, splits in layout.configs.items():
        reference: tuple[str, str] | None = None
        eval_hashes: list[np.ndarray] = []
        cfg_stats: dict[str, Any] = {"splits": {}}
        ordered = sorted(splits, key=lambda s: (s not in EVAL_SPLITS, s))  # eval splits first: leakage check
        for split in ordered:
            scans: list[FileScan] = []
            for rel, fs in zip(splits[split], scan_all(folder, splits[split], kind, settings)):
                if fs.unreadable:
                    report("HT101", fs.unreadable, rel)
                    continue
                if reference is None:
                    reference = (rel, fs.features)
                    cfg_stats["features"] = fs.features
                elif fs.features != reference[1]:
                    report("HT104", f"features [{fs.features}] differ from {reference[0]} [{reference[1]}]", rel)
                if fs.missing:
                    columns = sorted({c.split(":")[0] for c in fs.features.split(", ") if c})
                    report("HT102", f"{kind} data needs column(s) {', '.join(fs.missing)}; found {columns}", rel)
                    continue
                for f in fs.findings:
                    report(f["code"], f["message"], rel, f.get("row"), f.get("line"), f.get("field"))
                for code, n in fs.counts.items():  # findings past the cap were counted, not kept
                    limiter.counts[(code, rel)] = limiter.counts.get((code, rel), 0) + n - min(n, settings.max_findings_per_check)
                for src, n in fs.sources.items():
                    stats["sources"][src] = stats["sources"].get(src, 0) + n
                scans.append(fs)
            split_hashes = np.concatenate([fs.hashes for fs in scans]) if scans else np.zeros(0, np.uint64)
            owner = np.repeat(np.arange(len(scans)), [len(fs.hashes) for fs in scans])
            locs = np.concatenate([fs.locs for fs in scans]) if scans else np.zeros(0, np.int64)
            field_name = {"corpus": "text", "instructions": "messages"}.get(kind)
            _, first = np.unique(split_hashes, return_index=True)
            duplicate = np.ones(len(split_hashes), dtype=bool)
            duplicate[first] = False  # every later copy of a fingerprint is a duplicate of an earlier row
            leaked = (np.isin(split_hashes, np.concatenate(eval_hashes)) if split == "train" and eval_hashes
                      else np.zeros(len(split_hashes), dtype=bool))
            for i in np.flatnonzero(duplicate | leaked).tolist():
                fs = scans[owner[i]]
                where = {"line": int(locs[i])} if fs.by_line else {"row": int(locs[i])}
                if duplicate[i]:
                    report("HT106", f"duplicate of an earlier row in split {split!r}", fs.file, field_name=field_name,
                           **where)
                if leaked[i]:
                    report("HT107", f"train row also appears in an evaluation split of config {config!r}", fs.file,
                           field_name=field_name, **where)
            if split in EVAL_SPLITS:
                eval_hashes.append(split_hashes)
            del split_hashes, owner, locs, duplicate, leaked
            rows = sum(fs.rows for fs in scans)
            words = sum(fs.words for fs in scans)
            hist: dict[int, int] = {}
            for fs in scans:
                for v, n in fs.word_hist.items():
                    hist[v] = hist.get(v, 0) + n
            cfg_stats["splits"][split] = {"rows": rows, "words": words, "chars": sum(fs.chars for fs in scans),
                                          "words_per_row": {**_percentiles(hist),
                                                            "mean": round(words / rows, 2) if rows else 0}}
            merged = sorted({h: t for fs in scans for h, t in fs.sample}.items())[: settings.language_sample]
            sample = [t for _, t in merged]
            samples.extend(sample)
            if languages and sample:
                _check_language(sample, languages, settings, config, split, splits[split][0], report, stats)
        cfg_stats["splits"] = {s: cfg_stats["splits"][s] for s in splits if s in cfg_stats["splits"]}
        stats["configs"][config] = cfg_stats
    if languages and samples:
        stats["language_share"] = _language_share(samples, languages, settings)
    stats["rows_total"] = sum(s["rows"] for c in stats["configs"].values() for s in c["splits"].values())
    stats["words_total"] = sum(s["words"] for c in stats["configs"].values() for s in c["splits"].values())
    stats["bytes_total"] = sum((folder / f).stat().st_size for f in layout.files)
    findings.extend(limiter.summaries(artifact))
    return findings, stats


def check_text(text: str) -> list[tuple[str, str]]:
    """The exact checks of one non-empty text: (code, message) for control characters, secrets, e-mails."""
    out = []
    m = CONTROL.search(text)
    if m:
        bad = m.group()
        what = "U+FFFD (a decoding error upstream)" if bad == "\ufffd" else f"control character U+{ord(bad):04X}"
        out.append(("HT109", f"{what} at offset {m.start()}"))
    for name, rx in SECRET_PATTERNS.items():
        m = rx.search(text) if any(n in text for n in SECRET_NEEDLES[name]) else None
        if m:
            out.append(("HT110", f"{name} at offset {m.start()} ({m.group()[:6]}…)"))
    m = EMAIL.search(text) if "@" in text else None
    if m:
        out.append(("HT111", f"e-mail address at offset {m.start()}"))
    return out


_DETECTORS: dict[tuple, Any] = {}


def _detect(samples: list[str], languages: list[str], settings: ValidationSettings) -> list[str | None]:
    key = (tuple(languages), tuple(settings.languages_considered))

    def detect(texts: list[str]) -> list[str | None]:
        if key not in _DETECTORS:
            _DETECTORS[key] = build_detector(languages, settings.languages_considered)
        return [lang.iso_code_639_1.name.lower() if lang is not None else None
                for lang in _DETECTORS[key].detect_languages_in_parallel_of(texts)]
    return cache.detect_cached(samples, f"lingua:{','.join(key[0])}:{','.join(key[1])}", detect)


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
