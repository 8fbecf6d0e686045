"""The synthetic-instruction recipe: rows in -> datatrove InferenceRunner (sharded, checkpointed) ->
post-processing -> an `instructions` artifact in the messages format.

Stage 1 runs on a datatrove executor (local, Slurm or Ray; `executor.tasks` shards): a reader yields this
task's rows (Magpie: numbered slots; translate / backtranslate: rows of the input files, row i going to
task i mod tasks) and the InferenceRunner sends the rollouts to the server — vLLM started by datatrove from
its own environment's command (launch_vllm.py), an endpoint, or hubtool's transformers server started by
datatrove as its `custom` server. Its
checkpoints (every `records_per_chunk` rows) and request cache make a re-run after a kill continue where
it stopped; finished tasks are skipped.
Stage 2 (here, once every task finished) cleans, filters and deduplicates and writes
data/train-*.parquet and hubtool.json, with every dropped row counted by reason.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from ..executors import make_executor
from .config import ConfigError, SynthConfig

RECIPE_VERSION = "1.0"
SERVE_SCRIPT = Path(__file__).with_name("serve_model.py")
LAUNCH_VLLM = Path(__file__).with_name("launch_vllm.py")
ROWS_PER_SHARD = 100_000


class SynthSlots(PipelineStep):
    """Magpie's input: numbered empty slots (the model writes the instruction), spread over the tasks."""

    name = "🌱 magpie slots"

    def __init__(self, count: int, system_prompts: list[str]):
        super().__init__()
        self.count, self.system_prompts = count, system_prompts

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for i in range(rank, self.count, world_size):
            meta = {"slot": i}
            if self.system_prompts:
                meta["system_prompt"] = self.system_prompts[i % len(self.system_prompts)]
            self.stat_update("rows")
            yield Document(text="", id=f"magpie-{i:07d}", metadata=meta)


def input_files(path: Path, split: str = "train") -> list[Path]:
    """The files of an input: a file, or a folder's ``split`` (an artifact folder's data/ layout: a corpus's
    validation documents must never become training answers); a folder without splits gives every file."""
    if path.is_file():
        return [path]
    if (path / "data").is_dir():
        from hub_tools.artifacts.datalayout import discover_layout

        layout = discover_layout(path)
        splits = {s for config in layout.configs.values() for s in config}
        if split not in splits:
            raise ConfigError(f"{path}: no `{split}` split (it has {', '.join(sorted(splits)) or 'none'}); "
                              "set input.split")
        return [path / f for config in layout.configs.values() for f in config.get(split, [])]
    files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".parquet") or p.name.endswith(".jsonl.gz"))
    if not files:
        raise ConfigError(f"{path}: no .jsonl or .parquet files")
    return files


class SynthRows(PipelineStep):
    """translate / backtranslate input: rows of jsonl/parquet files or of a Hub dataset, row i to task i mod
    tasks."""

    name = "📄 input rows"

    def __init__(self, files: list[str], spec: dict, system_prompts: list[str]):
        super().__init__()
        self.files, self.spec, self.system_prompts = files, spec, system_prompts

    def _source(self):
        from hub_tools.validate.dataset_checks import iter_rows

        if self.spec.get("hub"):
            import os

            import datasets

            if os.environ.get("HF_ENDPOINT"):  # a worker process: bind it like the parent (local hub settings)
                from hub_tools.hub.endpoint import bind_endpoint

                bind_endpoint(os.environ["HF_ENDPOINT"])
            yield from datasets.load_dataset(self.spec["hub"], self.spec.get("config"), split=self.spec["split"],
                                             revision=self.spec.get("revision"), streaming=True)
            return
        for file in self.files:
            path = Path(file)
            for where, row, problem in iter_rows(path.parent, path.name):
                if row is None:
                    raise ValueError(f"{file}:{where}: {problem}")
                yield row

    def rows(self):
        limit = self.spec.get("limit")
        for index, row in enumerate(self._source()):
            if limit and index >= limit:
                return
            yield index, row

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        s = self.spec
        for index, row in self.rows():
            if index % world_size != rank:
                continue
            source_id = str(row.get(s["id_key"]) if row.get(s["id_key"]) is not None else f"row-{index}")
            if s.get("messages_key"):
                turns = row.get(s["messages_key"]) or []
                text = next((m["content"] for m in turns if m.get("role") == "user"), "")
                response = next((m["content"] for m in turns if m.get("role") == "assistant"), "")
            else:
                text, response = row.get(s["text_key"]), row.get(s["response_key"]) if s.get("response_key") else ""
            if not isinstance(text, str):
                raise ValueError(f"row {index} ({source_id}): {s['text_key']!r} is not a string")
            meta = {"source_id": source_id, "response": response or ""}
            if self.system_prompts:
                meta["system_prompt"] = self.system_prompts[index % len(self.system_prompts)]
            self.stat_update("rows")
            yield Document(text=text, id=f"{source_id}", metadata=meta)


def inference_config(cfg: SynthConfig):
    """datatrove's InferenceConfig for the configured server; vLLM only where it is installed."""
    import os

    from datatrove.pipeline.inference.run_inference import InferenceConfig

    server, bb = cfg.server, cfg.backbone
    served = bb.served_name or bb.model
    common = dict(model_name_or_path=served, use_chat=cfg.method != "magpie", model_max_context=server.model_max_context,
                  max_concurrent_generations=server.max_concurrent, server_start_timeout_sec=server.start_timeout,
                  server_ready_delay_sec=1.0, server_ready_max_attempts=max(1, int(server.start_timeout)),
                  metric_interval=60, request_timeout=server.request_timeout)
    if server.type == "vllm":
        return InferenceConfig(server_type="custom", model_kwargs=vllm_launch_kwargs(cfg), **common)
    if server.type == "endpoint":
        key = os.environ.get(server.api_key_env) if server.api_key_env else None
        return InferenceConfig(server_type="endpoint", endpoint_url=server.endpoint_url.rstrip("/"), api_key=key,
                               **common)
    kwargs = {"server_script": str(SERVE_SCRIPT), "model": bb.local_path(cfg.resolve) or bb.model,
              "revision": bb.revision, "adapter": str(cfg.resolve(bb.adapter)) if bb.adapter and
              cfg.resolve(bb.adapter).exists() else bb.adapter, "adapter-revision": bb.adapter_revision, "name": served}
    return InferenceConfig(server_type="custom", model_kwargs={k: v for k, v in kwargs.items() if v}, **common)


def recorded_config(cfg: SynthConfig) -> dict:
    """The config as hubtool.json records it: the vLLM command by its program name only (where it is installed
    on the machine that ran it is not part of what the artifact is, and is never published)."""
    import shlex

    data = cfg.model_dump(mode="json")
    parts = shlex.split(cfg.server.vllm_command or "")
    if parts:
        data["server"]["vllm_command"] = shlex.join([Path(parts[0]).name, *parts[1:]])
    return data


def vllm_launch_kwargs(cfg: SynthConfig) -> dict:
    """datatrove `custom` server arguments that start vLLM from its own environment (server.vllm_command)."""
    import shlex
    import shutil

    server, bb = cfg.server, cfg.backbone
    executable = shlex.split(server.vllm_command)[0] if server.vllm_command.strip() else ""
    if not (shutil.which(executable) or Path(executable).expanduser().is_file()):
        raise ConfigError(f"server.vllm_command: `{server.vllm_command}` is not an executable here. vLLM runs from "
                          "its own environment (it pins its own torch and transformers): python -m venv ~/venvs/vllm "
                          "&& ~/venvs/vllm/bin/pip install -r recipes/synth/vllm-requirements.txt, then set "
                          "server.vllm_command: ~/venvs/vllm/bin/vllm; without a GPU use server.type endpoint or "
                          "custom")
    if bb.adapter:
        raise ConfigError("backbone.adapter is served by the custom server only: merge the adapter "
                          "(hubtool recipe train with merge: true) to generate with vLLM")
    command = server.vllm_command.strip()
    if executable.startswith("~"):
        command = str(Path(executable).expanduser()) + command[len(executable):]
    kwargs = {"server_script": str(LAUNCH_VLLM), "command": command, "model": bb.local_path(cfg.resolve) or bb.model,
              "max-model-len": server.model_max_context, "tp": server.tp, "dp": server.dp,
              "pp": server.pp, "revision": bb.revision, "served-name": bb.served_name,
              "vllm-args": json.dumps(server.vllm_args)}
    return {k: v for k, v in kwargs.items() if v is not None}


@dataclass
class SynthResult:
    output: Path
    rows_in: int
    kept: int
    dropped: dict[str, int]
    generation: dict
    statistics: dict = field(default_factory=dict)


class ClusterSubmitted(RuntimeError):
    pass


def run_synth(cfg: SynthConfig, output: Path | None = None, workers: int | None = None, resume: bool = False,
              on_step: Callable[[str], None] | None = None) -> SynthResult:
    """Generate, then post-process into an instructions artifact; ``on_step`` gets progress lines (this
    process's requests only: datatrove's worker processes report to the log)."""
    from datatrove.pipeline.inference.run_inference import InferenceRunner
    from datatrove.pipeline.writers import JsonlWriter

    from hub_tools.artifacts.provenance import Provenance, RecipeInfo

    from .rollouts import SynthRollout

    output = output or cfg.resolve(cfg.output)
    work = cfg.resolve(cfg.work_dir) if cfg.work_dir else output.with_name(output.name + ".work")
    cluster = cfg.executor.type != "local"
    if not resume and not cluster:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    prov = Provenance.create(kind="instructions", name=cfg.name, language=[cfg.language],
                             recipe=RecipeInfo(name=f"synth-{cfg.method}", version=RECIPE_VERSION),
                             config=recorded_config(cfg), seed=cfg.seed)
    if cfg.method == "magpie":
        reader: PipelineStep = SynthSlots(cfg.num_samples, cfg.system_prompts)
    else:
        reader = SynthRows(_input_paths(cfg), cfg.input.model_dump(), cfg.system_prompts)
    runner = InferenceRunner(
        rollout_fn=SynthRollout(cfg, on_step), config=inference_config(cfg),
        output_writer=JsonlWriter(str(work / "raw"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None),
        checkpoints_local_dir=str(work / "checkpoints"), records_per_chunk=cfg.records_per_chunk,
        metadata_key="synth")
    executor = make_executor(cfg.executor, [reader, runner], cfg.executor.tasks, work / "logs", f"synth-{cfg.name}",
                             workers or cfg.executor.workers)
    start = time.perf_counter()
    executor.run()
    if cluster:
        raise ClusterSubmitted(f"submitted {cfg.executor.tasks} {cfg.executor.type} tasks (logs in {work / 'logs'}); "
                               "run the same command with --resume once they finished to post-process")
    incomplete = executor.get_incomplete_ranks()
    if incomplete:
        raise RuntimeError(f"tasks {incomplete} did not finish (logs in {work / 'logs'}); re-run with --resume")
    return finalize(cfg, output, work, prov, time.perf_counter() - start)


def raw_rows(work: Path) -> tuple[list[dict], int]:
    """The runner's output in a stable order, and how many rows it wrote more than once (expected: none)."""
    rows, seen, duplicates = [], set(), 0
    for file in sorted((work / "raw").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if doc["id"] in seen:
                duplicates += 1
                continue
            seen.add(doc["id"])
            results = doc["metadata"].get("synth") or [{"error": "no rollout result"}]
            rows.append({"id": doc["id"], "result": results[0], "metadata": doc["metadata"]})
    rows.sort(key=lambda r: r["id"])
    return rows, duplicates


def expected_rows(cfg: SynthConfig) -> int:
    if cfg.method == "magpie":
        return cfg.num_samples
    return sum(1 for _ in SynthRows(_input_paths(cfg), cfg.input.model_dump(), []).rows())


def _input_paths(cfg: SynthConfig) -> list[str]:
    return [str(p) for p in input_files(cfg.resolve(cfg.input.path), cfg.input.split)] if cfg.input.path else []


def finalize(cfg: SynthConfig, output: Path, work: Path, prov, seconds: float) -> SynthResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub_tools.artifacts.provenance import InputFingerprint, LineageStep, SourceDataset, write_provenance

    from .postprocess import postprocess

    rows, duplicates = raw_rows(work)
    expected = expected_rows(cfg)
    if len(rows) != expected:
        raise RuntimeError(f"the runner wrote {len(rows)} distinct rows for {expected} inputs; re-run with --resume")
    outcome = postprocess(rows, cfg.postprocess, cfg.language, str(work / "minhash"))
    sampling = cfg.sampling.model_dump()
    model = cfg.backbone.hub_id or (cfg.backbone.model + (f"@{cfg.backbone.revision}" if cfg.backbone.revision else ""))
    table = []
    for c in outcome.kept:
        system = c["result"].get("system")
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": c["instruction"]}, {"role": "assistant", "content": c["response"]}]
        table.append({"id": c["id"], "messages": messages, "method": cfg.method, "model": model,
                      "sampling": sampling, "source_doc_id": c["result"].get("source_doc_id"),
                      "score": c["result"].get("score"), "instruction_language": c.get("instruction_language"),
                      "response_language": c.get("response_language"),
                      "finish_reasons": c["result"]["usage"]["finish_reasons"]})
    data = output / "data"
    if output.exists():
        shutil.rmtree(output)
    data.mkdir(parents=True)
    shards = max(1, -(-len(table) // ROWS_PER_SHARD))
    for i in range(shards):
        part = table[i * ROWS_PER_SHARD:(i + 1) * ROWS_PER_SHARD]
        pq.write_table(pa.Table.from_pylist(part), data / f"train-{i:05d}-of-{shards:05d}.parquet")
    usage = [r["result"].get("usage", {}) for r in rows]
    requests = sum(u.get("requests", 0) for u in usage)
    completion = sum(u.get("completion_tokens", 0) for u in usage)
    counts = {"requests": requests, "retries": sum(u.get("retries", 0) for u in usage),
              "prompt_tokens": sum(u.get("prompt_tokens", 0) for u in usage), "completion_tokens": completion,
              "raw_duplicate_rows": duplicates}
    timing = {"seconds": round(seconds, 2), "prompts_per_s": round(requests / seconds, 3) if seconds else None,
              "tokens_per_s": round(completion / seconds, 1) if seconds else None}
    generation = {**counts, **timing}
    stats = {"rows_in": len(rows), "rows_kept": len(table), "dropped": dict(sorted(outcome.dropped.items())),
             "dropped_examples": outcome.examples, "generation": counts, "method": cfg.method,
             "server": cfg.server.type, "tasks": cfg.executor.tasks}
    prov.statistics = stats
    prov.runtime = {"generation": timing}  # run-time facts: recorded, not part of the artifact's identity
    source = cfg.source_dataset or (cfg.input.hub if cfg.input else None)
    if source:
        prov.source_datasets = [SourceDataset(id=source, revision=cfg.input.revision if cfg.input and
                                              source == cfg.input.hub else None)]
    if cfg.input is not None and cfg.input.path:  # a folder or file input: its name and content fingerprint
        files = [Path(f) for f in _input_paths(cfg)]
        prov.inputs.append(InputFingerprint(name="input", ref=cfg.input.path, sha256=files_sha256(files),
                                            rows=expected))
    elif cfg.input is not None:
        prov.inputs.append(InputFingerprint(name="input", ref=cfg.input.hub, revision=cfg.input.revision,
                                            rows=expected))
    prov.lineage = [LineageStep(step=f"synth-{cfg.method}", description=_LINEAGE[cfg.method]),
                    LineageStep(step="postprocess", description="clean, length bounds, refusal filter, "
                                + ("LLM judge, " if cfg.postprocess.judge.enabled else "")
                                + ("lingua language check, " if cfg.postprocess.language_check else "")
                                + "exact and MinHash near dedup of instructions")]
    prov.card.setdefault("task_categories", ["text-generation"])
    prov.finish()
    write_provenance(output, prov)
    return SynthResult(output, len(rows), len(table), dict(outcome.dropped), generation,
                       {**stats, "generation": generation})


def files_sha256(files: list[Path]) -> str:
    """One fingerprint of several files: their names (relative to the first's folder) and contents."""
    import hashlib

    from hub_tools.artifacts.provenance import file_sha256

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return h.hexdigest()


_LINEAGE = {
    "magpie": "Magpie self-synthesis: the backbone writes a user query from its template's pre-query prefix, "
              "then answers it",
    "translate": "instructions and answers translated into the target language by the backbone",
    "backtranslate": "X-Instruction backtranslation: target-language documents as answers, the backbone writes "
                     "the instruction each answers",
}


def main() -> None:  # python -m recipes.synth.pipeline CONFIG (the CLI is `hubtool recipe synth`)
    from .config import load_config

    result = run_synth(load_config(sys.argv[1]))
    print(json.dumps(result.statistics, indent=2))


if __name__ == "__main__":
    main()
