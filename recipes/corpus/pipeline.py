"""The corpus recipe: raw multi-source text -> a clean, deduplicated, split, documented corpus artifact.

Stages (each a datatrove executor run; the next depends on the previous):

1. filter: read every source (bounded line reads) -> length checks -> normalize (ftfy) -> language ID
   (CLD2, lingua where CLD2 is unsure) -> PII scrubbing -> quality (Gopher + repetition over words split
   once, + C4, bad words) -> dedup signatures (exact hash and MinHash over the same words) -> write
2. exact-find: exact duplicates (datatrove);  3. minhash-buckets (datatrove);  4. minhash-cluster
5. split-write: read back -> drop exact and near duplicates -> split -> count PII -> parquet

Then the artifact is laid out, described in hubtool.json (licences and attribution per source), and
checked with `hubtool validate`'s own checks before the run counts as a success.

`executor.type` picks LocalPipelineExecutor, SlurmPipelineExecutor or RayPipelineExecutor for every
stage; `executor.tasks` fixes the sharding, so results do not depend on the number of workers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub_tools.text.localpaths import portable_path

from ..executors import make_executor
from .config import CorpusConfig

log = logging.getLogger(__name__)
RECIPE_VERSION = "2.0"


@dataclass
class StageSpec:
    name: str
    pipeline: list
    tasks: int


@dataclass
class CorpusResult:
    output: Path
    rows: dict[str, int]
    steps: list[dict]
    problems: list[dict]
    pii: dict[str, dict[str, int]]
    wall_time_s: float
    stage_times: dict[str, float] = field(default_factory=dict)
    license: str = "other"


class CorpusFailed(RuntimeError):
    """The run finished but produced no usable artifact (no rows, or output that fails validation)."""


class ClusterSubmitted(RuntimeError):
    """The stages were submitted to a cluster; the artifact is written by a later call."""


def _source_files(cfg: CorpusConfig, src) -> list[Path]:
    path = cfg.resolve(src.path)
    return sorted(p for p in (path.rglob(src.glob or "*") if path.is_dir() else [path]) if p.is_file())


def _source_readers(cfg: CorpusConfig, problems_dir: Path) -> list:
    from .blocks import SourceReader

    readers = []
    for src in cfg.sources:
        if src.hub is not None:
            from datatrove.pipeline.readers import HuggingFaceDatasetReader

            readers.append(HuggingFaceDatasetReader(
                src.hub, dataset_options={"split": src.split, **({"revision": src.revision} if src.revision else {})},
                streaming=True, text_key=src.text_key, id_key=src.id_key, default_metadata={"source": src.name}))
            continue
        path = cfg.resolve(src.path)
        folder, pattern = (path, src.glob) if path.is_dir() else (path.parent, path.name)
        readers.append(SourceReader(str(folder), src.name, str(problems_dir), fmt=src.format, on_error=cfg.on_error,
                                    glob_pattern=pattern, text_key=src.text_key, id_key=src.id_key,
                                    max_doc_chars=cfg.limits.max_doc_chars, max_line_chars=cfg.limits.max_line_chars))
    return readers


def check_sources(cfg: CorpusConfig) -> list[dict]:
    """Problems visible before running: missing paths and empty sources."""
    problems = []
    for src in cfg.sources:
        if src.path is None:
            continue
        path = cfg.resolve(src.path)
        if not path.exists():
            problems.append({"source": src.name, "file": str(src.path), "line": None, "reason": "missing",
                             "detail": "path does not exist"})
            continue
        files = _source_files(cfg, src)
        if not files or all(p.stat().st_size == 0 for p in files):
            problems.append({"source": src.name, "file": str(src.path), "line": None, "reason": "empty_source",
                             "detail": "no data in this source"})
    return problems


def pii_regions(cfg: CorpusConfig) -> tuple[str, ...]:
    from hub_tools.text.pii import regions_for_languages

    return regions_for_languages([cfg.language], cfg.steps.pii.extra_regions)


def build_stages(cfg: CorpusConfig, work: Path) -> list[StageSpec]:
    from datatrove.pipeline.dedup import MinhashDedupBuckets
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import C4QualityFilter
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    from .blocks import (AssignSplit, LengthFilter, NormalizeText, PIIScrubber, PublishedPII, RankFileReader,
                         corpus_row, intermediate_row)
    from .dedup import DedupClusters, DedupFilter, DedupSignatures, _exact_key
    from .language import LanguageFilter
    from .quality import QualityFilter
    from .thresholds import resolve_quality

    steps, tasks, lang = cfg.steps, cfg.executor.tasks, cfg.language
    exact_on, near_on = steps.exact_dedup.enabled, steps.near_dedup.enabled
    regions = pii_regions(cfg)
    first: list[Any] = _source_readers(cfg, work / "problems")
    first.append(LengthFilter(cfg.limits.max_doc_chars, cfg.limits.max_line_chars))
    if steps.normalize.enabled:
        first.append(NormalizeText())
    if steps.language.enabled:
        first.append(LanguageFilter(lang, steps.language.threshold, steps.language.max_chars))
    if steps.pii.enabled:  # before the quality rules and dedup: they see the text as it will be published
        first.append(PIIScrubber(steps.pii.emails, steps.pii.phones, steps.pii.ips, regions))
    q = steps.quality
    if q.enabled:
        quality, repetition, _ = resolve_quality(cfg)
        first.append(QualityFilter(quality, repetition, frozenset(w.lower() for w in q.bad_words),
                                   share_words=near_on))
        if q.c4.enabled:
            first.append(C4QualityFilter(language=lang, **q.c4.model_dump(exclude={"enabled"})))
    mh = steps.near_dedup
    mh_cfg = MinhashConfig(n_grams=mh.n_grams, num_buckets=mh.num_buckets, hashes_per_bucket=mh.hashes_per_bucket,
                           seed=mh.seed)
    if exact_on or near_on:
        first.append(DedupSignatures(str(work / "exact_sigs") if exact_on else None,
                                     str(work / "mh_sigs") if near_on else None, mh_cfg))
    # uncompressed: an intermediate read once by the last stage; gzip would cost more CPU than any other step
    first.append(JsonlWriter(str(work / "s1"), output_filename="${rank}.jsonl", compression=None,
                             adapter=intermediate_row))
    stages = [StageSpec("filter", first, tasks)]
    if exact_on:
        stages.append(StageSpec("exact-find", [ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"),
                                                               ExactDedupConfig(content_getter=_exact_key))], 1))
    if near_on:
        stages.append(StageSpec("minhash-buckets", [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"),
                                                                        config=mh_cfg)], mh.num_buckets))
        stages.append(StageSpec("minhash-cluster", [DedupClusters(
            str(work / "mh_buckets"), str(work / "mh_ids"), str(work / "exact_dups") if exact_on else None)], 1))
    last: list[Any] = [RankFileReader(str(work / "s1"))]
    if exact_on or near_on:
        last.append(DedupFilter(str(work / "exact_dups") if exact_on else None,
                                str(work / "mh_ids") if near_on else None))
    last += [AssignSplit(cfg.split.validation_fraction, cfg.split.seed), PublishedPII(regions),
             ParquetWriter(str(work / "out"), output_filename="${split}/${rank}.parquet", adapter=corpus_row)]
    stages.append(StageSpec("split-write", last, tasks))
    return stages


def run_corpus(cfg: CorpusConfig, output: Path | None = None, workers: int | None = None, resume: bool = False,
               progress=None, stage_builder=None) -> CorpusResult:
    """Run every stage, then lay out the artifact: data/<split>-NNNNN-of-NNNNN.parquet + hubtool.json.
    ``stage_builder`` replaces :func:`build_stages` (the benchmark runs the previous pipeline with it)."""
    from hub_tools.artifacts.provenance import Provenance, RecipeInfo

    from .blocks import InputProblem

    output = output or cfg.resolve(cfg.output)
    work = cfg.resolve(cfg.work_dir) if cfg.work_dir else output.with_name(output.name + ".work")
    cluster = cfg.executor.type != "local"
    if not resume and not cluster:  # cluster runs finish in a second call: never wipe their work
        shutil.rmtree(work, ignore_errors=True)
    (work / "problems").mkdir(parents=True, exist_ok=True)
    prov = Provenance.create(kind="corpus", name=cfg.name, language=[cfg.language],
                             recipe=RecipeInfo(name="corpus", version=RECIPE_VERSION),
                             config=published_config(cfg, output), seed=cfg.seed)
    early = check_sources(cfg)
    if early and cfg.on_error == "stop":
        p = early[0]
        raise InputProblem(f"source {p['source']!r}: {p['file']}: {p['reason']}: {p['detail']}")
    start = time.perf_counter()
    stage_times: dict[str, float] = {}
    workers = workers or cfg.executor.workers
    executors: list = []
    for i, stage in enumerate((stage_builder or build_stages)(cfg, work), 1):
        executors.append(make_executor(cfg.executor, stage.pipeline, stage.tasks, work / "logs" / stage.name,
                                       f"{cfg.name}-{stage.name}", workers, executors[-1] if executors else None))
        if cluster:
            continue
        if progress:
            progress(f"stage {i}: {stage.name} ({stage.tasks} tasks)")
        t0 = time.perf_counter()
        executors[-1].run()
        stage_times[stage.name] = round(time.perf_counter() - t0, 3)
    if cluster and any(ex.get_incomplete_ranks() for ex in executors):
        executors[-1].run()  # submits the chain: each stage's job depends on the previous one
        raise ClusterSubmitted(f"submitted {len(executors)} {cfg.executor.type} stages (logs in {work / 'logs'}); "
                               "run the same command again once they finished to write the artifact")
    return finalize(cfg, output, work, prov, early, start, stage_times)


def published_config(cfg: CorpusConfig, output: Path | None = None) -> dict:
    """The resolved config for hubtool.json: every path portable (no absolute path of this machine)."""
    data = cfg.model_dump(mode="json")
    base = cfg._base
    data["output"] = portable_path(str(output) if output else cfg.output, base)
    if data.get("work_dir"):
        data["work_dir"] = portable_path(data["work_dir"], base)
    for src in data["sources"]:
        if src.get("path"):
            src["path"] = portable_path(src["path"], base)
    if data["steps"]["quality"].get("thresholds"):
        data["steps"]["quality"]["thresholds"] = portable_path(data["steps"]["quality"]["thresholds"], base)
    return data


def combined_license(cfg: CorpusConfig) -> tuple[str, list[dict]]:
    """The artifact's licence (the sources' one when they agree, else `other`) and the per-source table."""
    table = [{"source": s.name, "license": s.license or "unknown", "attribution": s.attribution or ""}
             for s in cfg.sources]
    ids = {row["license"] for row in table}
    return (ids.pop() if len(ids) == 1 and "unknown" not in ids else "other"), table


def finalize(cfg: CorpusConfig, output: Path, work: Path, prov, early: list[dict], start: float,
             stage_times: dict[str, float]) -> CorpusResult:
    import pyarrow.parquet as pq

    from hub_tools.artifacts.provenance import InputFingerprint, file_sha256, write_provenance

    problems = early + [json.loads(line) for f in sorted((work / "problems").glob("*.jsonl"))
                        for line in f.read_text().splitlines() if line.strip()]
    for p in problems:
        p["file"] = portable_path(p["file"], cfg._base) if p.get("file") else p.get("file")
    steps = summarize_steps(work / "logs")
    counts: dict[str, dict[str, int]] = {}
    split_files: dict[str, list[Path]] = {}
    for split_dir in sorted((work / "out").iterdir()) if (work / "out").is_dir() else []:
        files = {f: pq.ParquetFile(f).metadata.num_rows for f in sorted(split_dir.glob("*.parquet"))}
        if sum(files.values()):
            split_files[split_dir.name] = [f for f, n in files.items() if n > 0]
            counts[split_dir.name] = sum(files.values())
    if not counts:
        raise CorpusFailed("no document survived, so no artifact was written. " + _why_nothing(steps, problems))
    shutil.rmtree(output, ignore_errors=True)
    (output / "data").mkdir(parents=True)
    for split, files in split_files.items():
        for i, f in enumerate(files):
            shutil.copyfile(f, output / "data" / f"{split}-{i:05d}-of-{len(files):05d}.parquet")
    read_per_source = _documents_read(steps)
    for src in cfg.sources:
        if src.path is None:
            prov.inputs.append(InputFingerprint(name=f"source:{src.name}", ref=src.hub, revision=src.revision,
                                                rows=read_per_source.get(src.name)))
            continue
        h = hashlib.sha256()
        for f in _source_files(cfg, src) if cfg.resolve(src.path).exists() else []:
            h.update(f.name.encode())
            h.update(file_sha256(f).encode())
        prov.inputs.append(InputFingerprint(name=f"source:{src.name}", ref=portable_path(src.path, cfg._base),
                                            sha256=h.hexdigest(), rows=read_per_source.get(src.name, 0)))
    pii = _published_pii(steps)
    license_id, sources_table = combined_license(cfg)
    prov.statistics = {"rows": counts, "steps": [{k: v for k, v in s.items() if k != "seconds"} for s in steps],
                       "problems": {"count": len(problems), "by_reason": _count(p["reason"] for p in problems),
                                    "first": problems[:20]},
                       "pii": pii,
                       "documents_read": sum(read_per_source.values()) if read_per_source else None,
                       "sources": sources_table}
    # run-time facts: recorded, but not part of the artifact's identity (a rebuild is byte-identical)
    prov.runtime = {"stage_seconds": stage_times,
                    "step_seconds": {f"{s['stage']}/{s['step']}": s.get("seconds") for s in steps}}
    prov.card = {"pretty_name": f"{cfg.name} ({cfg.language} corpus)", "license": license_id}
    prov.finish()
    write_provenance(output, prov)
    _validate_own_output(output)
    return CorpusResult(output, counts, steps, problems, pii, round(time.perf_counter() - start, 3), stage_times,
                        license_id)


def _validate_own_output(output: Path) -> None:
    """`hubtool validate`'s checks on the artifact just written: a recipe never declares success on output
    the release tool would refuse."""
    from hub_tools.validate import validate_artifact

    report = validate_artifact(output)
    errors = report.errors()
    if errors:
        listed = "; ".join(f"{f.code} {f.file or ''}{f':row {f.row}' if f.row is not None else ''}: {f.message}"
                           for f in errors[:5])
        raise CorpusFailed(f"the artifact in {output} fails validation ({len(errors)} error(s)): {listed}. "
                           "This is a bug of the recipe: please report it with the config")


def _documents_read(steps: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in steps:
        if s["stage"] == "filter" and str(s["step"]).startswith("📖 - READER: 📖 source "):
            out[str(s["step"]).rsplit(" ", 1)[-1]] = s["counters"].get("documents", 0)
    return out


def _published_pii(steps: list[dict]) -> dict[str, dict[str, int]]:
    """PII of the published rows: replaced in them, placeholders they hold, PII the detectors still find."""
    out: dict[str, dict[str, int]] = {"replaced": {}, "placeholders": {}, "contains": {}, "replaced_all_documents": {}}
    for s in steps:
        for k, v in s["counters"].items():
            for prefix, key in (("replaced_", "replaced"), ("placeholder_", "placeholders"),
                                ("contains_", "contains"), ("pii_", "replaced_all_documents")):
                if k.startswith(prefix):
                    out[key][k[len(prefix):]] = out[key].get(k[len(prefix):], 0) + int(v)
    return out


def _why_nothing(steps: list[dict], problems: list[dict]) -> str:
    parts = []
    if problems:
        parts.append(f"{len(problems)} input problem(s): " + ", ".join(f"{k} {v}" for k, v in
                                                                      _count(p["reason"] for p in problems).items()))
    read = sum(_documents_read(steps).values())
    parts.append(f"{read} document(s) read")
    for s in steps:
        if s["dropped"]:
            reasons = ", ".join(f"{k} {v}" for k, v in s["reasons"].items())
            parts.append(f"{s['step']} removed {s['dropped']} ({reasons})")
    return "; ".join(parts) + "."


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _stage_stats(logs: Path) -> list[dict]:
    path = logs / "stats.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def summarize_steps(logs: Path) -> list[dict]:
    """Per datatrove step: documents in and out, removal reasons, time; from each stage's stats.json."""
    out = []
    for stage_dir in sorted(logs.iterdir(), key=lambda p: p.stat().st_mtime) if logs.is_dir() else []:
        for step in _stage_stats(stage_dir):
            stats = step.get("stats", {})
            counters = {k: (v.get("total") if isinstance(v, dict) else v) for k, v in stats.items()}
            total = counters.get("total") or counters.get("documents")
            forwarded = counters.get("forwarded")
            dropped = {k[len("dropped_"):]: v for k, v in counters.items() if k.startswith("dropped_")}
            time_s = step.get("time_stats", {}).get("total") if isinstance(step.get("time_stats"), dict) else None
            dropped_n = counters.get("dropped", 0) or 0
            out.append({"stage": stage_dir.name, "step": step.get("name"), "in": total,
                        "out": forwarded if forwarded is not None else (total - dropped_n if total else None),
                        "dropped": counters.get("dropped", 0), "reasons": dropped,
                        "counters": {k: v for k, v in counters.items() if isinstance(v, (int, float))},
                        "seconds": round(time_s, 3) if isinstance(time_s, (int, float)) else None})
    return out
