"""The corpus recipe: raw multi-source text -> a clean, deduplicated, split, documented corpus artifact.

Stages (each a datatrove executor run; the next depends on the previous):

1. read every source -> normalize -> PII scrubbing -> lingua language filter -> Gopher quality +
   repetition (+ C4, bad words) -> write; exact-dedup signatures
2. find exact duplicates
3. read back -> drop exact duplicates -> write; MinHash signatures
4. MinHash buckets;  5. MinHash clusters
6. read back -> drop near duplicates -> assign split -> parquet

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

from ..executors import make_executor
from .config import CorpusConfig

log = logging.getLogger(__name__)
RECIPE_VERSION = "1.0"


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
    pii: dict[str, int]
    wall_time_s: float
    stage_times: dict[str, float] = field(default_factory=dict)


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
                                    glob_pattern=pattern, text_key=src.text_key, id_key=src.id_key))
    return readers


def check_sources(cfg: CorpusConfig) -> list[dict]:
    """Problems visible before running: missing paths and empty sources."""
    problems = []
    for src in cfg.sources:
        if src.path is None:
            continue
        path = cfg.resolve(src.path)
        if not path.exists():
            problems.append({"source": src.name, "file": src.path, "line": None, "reason": "missing",
                             "detail": "path does not exist"})
            continue
        files = [p for p in (path.rglob(src.glob or "*") if path.is_dir() else [path]) if p.is_file()]
        if not files or all(p.stat().st_size == 0 for p in files):
            problems.append({"source": src.name, "file": src.path, "line": None, "reason": "empty_source",
                             "detail": "no data in this source"})
    return problems


def build_stages(cfg: CorpusConfig, work: Path) -> list[StageSpec]:
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LambdaFilter,
    )
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    from .blocks import AssignSplit, LinguaLanguageFilter, NormalizeText, PIIScrubber, RankFileReader, corpus_row

    steps, tasks, lang = cfg.steps, cfg.executor.tasks, cfg.language
    first: list[Any] = _source_readers(cfg, work / "problems")
    if steps.normalize.enabled:
        first.append(NormalizeText())
    if steps.pii.enabled:  # before quality filters: digits of a phone number are not "words" of the text
        first.append(PIIScrubber(steps.pii.emails, steps.pii.phones, steps.pii.ips))
    if steps.language.enabled:
        first.append(LinguaLanguageFilter(lang, steps.language.languages, steps.language.threshold))
    if steps.quality.enabled:
        q = steps.quality
        first.append(GopherQualityFilter(language=lang, **q.gopher.model_dump()))
        rep = q.repetition.model_dump()
        rep["top_n_grams"] = tuple((int(n), r) for n, r in rep["top_n_grams"])
        rep["dup_n_grams"] = tuple((int(n), r) for n, r in rep["dup_n_grams"])
        first.append(GopherRepetitionFilter(language=lang, **rep))
        if q.c4.enabled:
            first.append(C4QualityFilter(language=lang, **q.c4.model_dump(exclude={"enabled"})))
        if q.bad_words:
            bad = {w.lower() for w in q.bad_words}
            first.append(LambdaFilter(lambda doc: not (bad & set(doc.text.lower().split()))))
    first.append(JsonlWriter(str(work / "s1"), output_filename="${rank}.jsonl.gz"))
    exact_cfg = ExactDedupConfig(content_getter=_dedup_key)
    stages = []
    if steps.exact_dedup.enabled:
        first.append(ExactDedupSignature(str(work / "exact_sigs"), exact_cfg))
    stages.append(StageSpec("filter", first, tasks))
    previous = work / "s1"
    if steps.exact_dedup.enabled:
        stages.append(StageSpec("exact-find", [ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"),
                                                               exact_cfg)], 1))
        third = [RankFileReader(str(previous)), ExactDedupFilter(str(work / "exact_dups"), exact_cfg),
                 JsonlWriter(str(work / "s3"), output_filename="${rank}.jsonl.gz")]
        previous = work / "s3"
    else:
        third = None
    mh = steps.near_dedup
    mh_cfg = MinhashConfig(n_grams=mh.n_grams, num_buckets=mh.num_buckets, hashes_per_bucket=mh.hashes_per_bucket,
                           seed=mh.seed)
    if mh.enabled:
        sig = MinhashDedupSignature(str(work / "mh_sigs"), config=mh_cfg, language=lang)
        (first if third is None else third).append(sig)  # after the writer: signature steps are terminal
    if third is not None:
        stages.append(StageSpec("exact-filter", third, tasks))
    last: list[Any] = [RankFileReader(str(previous))]
    if mh.enabled:
        stages.append(StageSpec("minhash-buckets", [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"),
                                                                        config=mh_cfg)], mh.num_buckets))
        stages.append(StageSpec("minhash-cluster", [MinhashDedupCluster(str(work / "mh_buckets"), str(work / "mh_ids"),
                                                                        config=mh_cfg)], 1))
        last.append(MinhashDedupFilter(str(work / "mh_ids")))
    last += [AssignSplit(cfg.split.validation_fraction, cfg.split.seed),
             ParquetWriter(str(work / "out"), output_filename="${split}/${rank}.parquet", adapter=corpus_row)]
    stages.append(StageSpec("split-write", last, tasks))
    return stages


def _dedup_key(doc) -> bytes:
    """Exact-dedup content (bytes: datatrove reads the type from the annotation, which is a string here)."""
    return doc.text.encode("utf-8")


def _stage_stats(logs: Path) -> list[dict]:
    path = logs / "stats.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def run_corpus(cfg: CorpusConfig, output: Path | None = None, workers: int | None = None, resume: bool = False,
               progress=None) -> CorpusResult:
    """Run every stage, then lay out the artifact: data/<split>-NNNNN-of-NNNNN.parquet + hubtool.json."""
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
                             config=cfg.model_dump(mode="json"), seed=cfg.seed)
    early = check_sources(cfg)
    if early and cfg.on_error == "stop":
        p = early[0]
        raise InputProblem(f"source {p['source']!r}: {p['file']}: {p['reason']}: {p['detail']}")
    start = time.perf_counter()
    stage_times: dict[str, float] = {}
    workers = workers or cfg.executor.workers
    executors: list = []
    for i, stage in enumerate(build_stages(cfg, work), 1):
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


class ClusterSubmitted(RuntimeError):
    """The stages were submitted to a cluster; the artifact is written by a later call."""


def finalize(cfg: CorpusConfig, output: Path, work: Path, prov, early: list[dict], start: float,
             stage_times: dict[str, float]) -> CorpusResult:
    from hub_tools.artifacts.provenance import InputFingerprint, file_sha256, write_provenance

    shutil.rmtree(output, ignore_errors=True)
    (output / "data").mkdir(parents=True)
    rows: dict[str, int] = {}
    import pyarrow.parquet as pq

    for split_dir in sorted((work / "out").iterdir()) if (work / "out").is_dir() else []:
        counts = {f: pq.ParquetFile(f).metadata.num_rows for f in sorted(split_dir.glob("*.parquet"))}
        files = [f for f, n in counts.items() if n > 0]
        for i, f in enumerate(files):
            shutil.copyfile(f, output / "data" / f"{split_dir.name}-{i:05d}-of-{len(files):05d}.parquet")
        rows[split_dir.name] = sum(counts.values())
    problems = early + [json.loads(line) for f in sorted((work / "problems").glob("*.jsonl"))
                        for line in f.read_text().splitlines() if line.strip()]
    steps = summarize_steps(work / "logs")
    pii = {k[len("pii_"):]: v for s in steps for k, v in s["counters"].items() if k.startswith("pii_")}
    for src in cfg.sources:
        if src.path is None:
            prov.inputs.append(InputFingerprint(name=f"source:{src.name}", ref=src.hub, revision=src.revision))
            continue
        path = cfg.resolve(src.path)
        files = sorted(p for p in (path.rglob(src.glob or "*") if path.is_dir() else [path]) if p.is_file())
        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode())
            h.update(file_sha256(f).encode())
        prov.inputs.append(InputFingerprint(name=f"source:{src.name}", ref=str(src.path), sha256=h.hexdigest()))
    reader_docs = next((s for s in steps if s["stage"] == "filter"), None)
    prov.statistics = {"rows": rows, "steps": [{k: v for k, v in s.items() if k != "seconds"} for s in steps],
                       "problems": {"count": len(problems), "by_reason": _count(p["reason"] for p in problems),
                                    "first": problems[:20]},
                       "pii_replacements": pii, "documents_read": reader_docs["in"] if reader_docs else None}
    # run-time facts: recorded, but not part of the artifact's identity (a rebuild is byte-identical)
    prov.runtime = {"stage_seconds": stage_times,
                    "step_seconds": {f"{s['stage']}/{s['step']}": s["seconds"] for s in steps}}
    prov.card = {"pretty_name": f"{cfg.name} ({cfg.language} corpus)"}
    prov.finish()
    write_provenance(output, prov)
    return CorpusResult(output, rows, steps, problems, pii, round(time.perf_counter() - start, 3), stage_times)


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


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
