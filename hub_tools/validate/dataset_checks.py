"""Checks of dataset artifacts (corpus, instructions, preferences, eval), and the statistics the card shows.

Each data file is read in one streaming pass (:mod:`hub_tools.validate.filescan`: parquet in Arrow
batches, jsonl line by line), once per content thanks to :mod:`hub_tools.validate.cache`. Memory stays
bounded by a batch plus, per row of the split being combined, its 8-byte fingerprint and 8-byte location
(16 bytes a row, held for the split; ``np.unique`` briefly needs about as much again to sort them) and
the eval splits' fingerprints for the leakage check.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hub_tools.artifacts.datalayout import DataLayout, discover_layout, file_format
from hub_tools.artifacts.manifest import ValidationSettings
from hub_tools.validate import cache
from hub_tools.validate.cache import scan_all
from hub_tools.validate.filescan import FileScan
from hub_tools.validate.findings import Finding, Limiter
from hub_tools.validate.rows import (  # noqa: F401  (re-exported: the names other modules import from here)
    CONTROL,
    EVAL_SPLITS,
    ROLES,
    SECRET_NEEDLES,
    SECRET_PATTERNS,
    WINNERS,
    RowRef,
    check_text,
    features_of,
    iter_rows,
    required_columns,
    row_text,
)


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
