"""`hubtool recipe ...`: run the recipes that produce artifacts.

Long module: one click command per recipe (options, one library call, the summary); split by recipe next."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from hub_tools.cli.options import (endpoint_option, hub_target, hub_target_if_needed, is_hub_ref, json_option,
                                   require_on_hub)


@click.group(epilog="""\b
Examples:
  hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml
  hubtool recipe synth --config recipes/configs/synth/tiny-magpie.yaml
  hubtool recipe train --config recipes/configs/train/tiny.yaml --list
""")
def recipe() -> None:
    """Run a recipe that produces an artifact folder (then: hubtool validate / card / release)."""


def _quiet_datatrove(verbose: bool) -> None:
    from loguru import logger

    logger.remove()
    if verbose:
        logger.add(sys.stderr, level="INFO")
    else:
        logger.add(sys.stderr, level="ERROR")


@recipe.command("corpus", epilog="""\b
Examples:
  hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml
  hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml --workers 2 --output out/eu-corpus
  hubtool recipe corpus --config recipes/configs/corpus/slurm.yaml    # same steps on a Slurm cluster
Exit code: 0 done (the artifact passed validation), 1 bad input with on_error: stop (file and line are
printed), no document survived, or the output failed validation (the reason is printed), 2 usage/config
error (the config key is named).""")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel processes (default: the config's).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Artifact folder (default: the config's `output`).")
@click.option("--resume", is_flag=True, help="Keep finished datatrove tasks of an interrupted run.")
@endpoint_option
@json_option
def corpus(config_path: Path, workers: int | None, output: Path | None, resume: bool, endpoint: str | None,
           as_json: bool) -> None:
    """Clean, filter, deduplicate and split raw target-language text into a corpus artifact (datatrove)."""
    from rich.console import Console
    from rich.table import Table

    from recipes.corpus.blocks import InputProblem
    from recipes.corpus.config import load_config
    from recipes.corpus.pipeline import ClusterSubmitted, CorpusFailed, run_corpus

    verbose = logging.getLogger().level <= logging.DEBUG
    _quiet_datatrove(verbose)
    cfg = load_config(config_path)
    if any(s.hub for s in cfg.sources):  # Hub dataset sources are read from it
        require_on_hub(hub_target(endpoint), "dataset", *(s.hub for s in cfg.sources))
    err_console = Console(stderr=True)
    try:
        with err_console.status("running the corpus recipe") as status:
            result = run_corpus(cfg, output=output, workers=workers, resume=resume,
                                progress=lambda msg: status.update(msg))
    except InputProblem as err:
        raise click.ClickException(f"{err}\n(on_error: stop in {config_path}; set on_error: skip to skip and count)")
    except CorpusFailed as err:
        raise click.ClickException(str(err))
    except ClusterSubmitted as err:
        click.echo(str(err))
        return
    summary = {"output": str(result.output), "rows": result.rows, "wall_time_s": result.wall_time_s,
               "license": result.license, "problems": result.problems, "pii": result.pii,
               "steps": [{k: s[k] for k in ("stage", "step", "in", "out", "dropped", "reasons", "seconds")}
                         for s in result.steps]}
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"corpus recipe: {cfg.name}")
    for col in ("stage", "step", "in", "out", "removed", "why"):
        table.add_column(col)
    for s in result.steps:
        why = ", ".join(f"{k}: {v}" for k, v in s["reasons"].items())
        table.add_row(s["stage"], str(s["step"]), _n(s["in"]), _n(s["out"]), _n(s["dropped"] or None), why)
    console.print(table)
    if result.problems:
        console.print(f"[yellow]{len(result.problems)} input problem(s) skipped and counted:[/]")
        for p in result.problems[:10]:
            where = f"{p['file']}:{p['line']}" if p.get("line") else p["file"]
            console.print(f"  {p['source']}: {where}: {p['reason']} ({p['detail']})")
    console.print(f"PII in the published rows: replaced {result.pii['replaced'] or 'none'}; "
                  f"still detected {result.pii['contains'] or 'none'}")
    console.print(f"wrote {result.output} (validated, licence {result.license}): "
                  + ", ".join(f"{k} {v:,} rows" for k, v in result.rows.items())
                  + f" in {result.wall_time_s:.1f}s. Next: hubtool card {result.output} --repo ORG/NAME")


@recipe.command("corpus-thresholds", epilog="""\b
Examples:
  hubtool recipe corpus-thresholds --sample clean-gl.jsonl.gz --language gl --output gl.json
  hubtool recipe corpus-thresholds --sample treebank.txt --language eu --tolerance 0.01 --json
Then set `steps.quality.thresholds: gl.json` in the corpus config.
Exit code: 0 written, 1 the sample is unusable (too few documents), 2 usage error.""")
@click.option("--sample", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Clean text of the language you trust: jsonl(.gz) with a text field, parquet, or txt "
                   "(documents separated by blank lines).")
@click.option("--language", required=True, help="ISO 639-1 code of the sample's language.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Profile file to write (default: print it).")
@click.option("--tolerance", type=click.FloatRange(0, 0.5, min_open=True, max_open=True), default=0.005,
              show_default=True, help="Share of the sample's documents each derived rule may fail.")
@click.option("--stop-words", "stop_words", type=click.IntRange(2), default=20, show_default=True,
              help="How many of the most widespread words form the stop-word list.")
@click.option("--text-key", default="text", show_default=True, help="Field holding the text (jsonl, parquet).")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON (also with --output).")
def corpus_thresholds(sample: Path, language: str, output: Path | None, tolerance: float, stop_words: int,
                      text_key: str, as_json: bool) -> None:
    """Derive language-aware quality thresholds (word length, share of words with a letter, stop words) for
    the corpus recipe from a sample of clean text, as FineWeb-2 did per language."""
    from recipes.corpus.thresholds import ThresholdsError, derive_thresholds, read_texts

    try:
        profile = derive_thresholds(read_texts(sample, text_key), language, tolerance, stop_words,
                                    source=sample.name)
    except (ThresholdsError, ValueError, OSError) as err:
        raise click.ClickException(f"{sample}: {err}")
    text = json.dumps(profile, indent=2, ensure_ascii=False) + "\n"
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    if as_json or not output:
        click.echo(text, nl=False)
    else:
        t = profile["thresholds"]
        click.echo(f"wrote {output}: average word length {t['min_avg_word_length']}-{t['max_avg_word_length']}, "
                   f"words with a letter >= {t['min_alpha_words_ratio']}, at least {t['min_stop_words']} of "
                   f"{len(t['stop_words'])} stop words; from {profile['derived_from']['documents']} documents. "
                   f"Use it with steps.quality.thresholds: {output}")


@recipe.command("synth", epilog="""\b
Examples:
  hubtool recipe synth --config recipes/configs/synth/tiny-magpie.yaml
  hubtool recipe synth --config recipes/configs/synth/tiny-backtranslate.yaml --workers 2 --output out/eu-bt
  hubtool recipe synth --config recipes/configs/synth/llama31-8b-magpie.yaml      # GPU, vLLM
  hubtool recipe synth --config CONFIG --resume     # after an interruption: continue, never duplicate
Exit code: 0 done, 1 a task failed (re-run with --resume), 2 usage/config error.""")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel tasks (default: the config's).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Artifact folder (default: the config's `output`).")
@click.option("--endpoint-url", default=None, help="Use a running OpenAI-compatible server (server.type endpoint).")
@click.option("--endpoint", default=None, help="Hub the backbone is read from when it is a repo id (default: "
                                              "HF_ENDPOINT, the Hub with a token, else the local staging hub).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its checkpoints.")
@json_option
def synth(config_path: Path, workers: int | None, output: Path | None, endpoint_url: str | None,
          endpoint: str | None, resume: bool, as_json: bool) -> None:
    """Synthetic instructions (Magpie, translation, X-Instruction backtranslation) on datatrove's inference
    pipeline, post-processed into an `instructions` artifact in the messages format."""
    from rich.console import Console
    from rich.table import Table

    from recipes.synth.config import load_config
    from recipes.synth.pipeline import ClusterSubmitted, run_synth

    verbose = logging.getLogger().level <= logging.DEBUG
    _quiet_datatrove(verbose)
    try:
        cfg = load_config(config_path)
        if endpoint_url:
            cfg.server = cfg.server.model_copy(update={"type": "endpoint", "endpoint_url": endpoint_url})
        hub_refs = [r for r in (cfg.backbone.model, cfg.backbone.adapter) if r and not cfg.resolve(r).exists()
                    and is_hub_ref(r)]  # a local folder is resolved against the config, as the recipe does
        if hub_refs or (cfg.input is not None and cfg.input.hub):
            # the backbone (here and in datatrove's server process) and a Hub input come from it
            target = hub_target(endpoint)
            require_on_hub(target, "model", *hub_refs)
            require_on_hub(target, "dataset", cfg.input.hub if cfg.input is not None else None)
        title = f"synth ({cfg.method}, {cfg.server.type} server, {cfg.executor.tasks} tasks)"
        with Console(stderr=True).status(f"{title}: starting") as status:
            result = run_synth(cfg, output=output, workers=workers, resume=resume,
                               on_step=lambda line: status.update(f"{title}: {line}"))
    except ClusterSubmitted as err:
        click.echo(str(err))
        return
    except RuntimeError as err:
        raise click.ClickException(str(err))
    if as_json:
        click.echo(json.dumps({"output": str(result.output), **result.statistics}, indent=2))
        return
    console = Console(width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"synth recipe: {cfg.name} ({cfg.method})", min_width=50)
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("in", _n(result.rows_in))
    for reason, count in sorted(result.dropped.items()):
        table.add_row(f"dropped: {reason}", _n(count))
    table.add_row("kept", _n(result.kept))
    console.print(table)
    g = result.generation
    console.print(f"{g['requests']:,} requests ({g['retries']} retried), {g['completion_tokens']:,} tokens generated "
                  f"in {g['seconds']}s: {g['prompts_per_s']} prompts/s, {g['tokens_per_s']} tokens/s")
    console.print(f"wrote {result.output}. Next: hubtool validate {result.output}")


def _n(v) -> str:
    return "" if v is None else f"{v:,}"


@recipe.command("evaluate", epilog="""\b
Examples:
  hubtool recipe evaluate --model out/base --out results/base.json
  hubtool recipe evaluate --model hitz/base --adapter hitz/instruct --adapter-revision exp_2_111 \\
      --tasks mt_en_eu,mcqa_eu --out results/exp_2_111.json
The results file is what `eval_results:` in release.yaml points at (model-index in the card).""")
@click.option("--model", required=True, help="Model folder or Hub id (the base, for an adapter).")
@click.option("--model-revision", default=None)
@click.option("--adapter", default=None, help="PEFT adapter folder or Hub id.")
@click.option("--adapter-revision", default=None, help="Branch of the adapter (a variant).")
@click.option("--tasks", default="mt_en_eu,qa_eu,mcqa_eu", show_default=True, help="Comma-separated task names.")
@click.option("--limit", type=click.IntRange(1), default=None, help="First N rows of each task.")
@click.option("--max-new-tokens", type=click.IntRange(1), default=32, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@endpoint_option
def evaluate_cmd(model: str, model_revision: str | None, adapter: str | None, adapter_revision: str | None,
                 tasks: str, limit: int | None, max_new_tokens: int, out: Path, endpoint: str | None) -> None:
    """Score a model or adapter on the bundled Basque tasks (BLEU/chrF, exact match, MC log-likelihood)."""
    from recipes.evaluate.runner import TASKS, load_model, results_document, run_task

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise click.UsageError(f"unknown task(s) {', '.join(unknown)}; available: {', '.join(TASKS)}")
    hub_target_if_needed(endpoint, model, adapter)
    m = load_model(model, adapter, model_revision, adapter_revision)
    results = []
    for name in names:
        click.echo(f"{name} ...", err=True)
        results.append(run_task(m, TASKS[name], limit, max_new_tokens))
        click.echo(f"  {results[-1].scores}", err=True)
    doc = results_document(results, adapter or model, extra_provenance={
        "model": model, "model_revision": model_revision, "adapter": adapter, "adapter_revision": adapter_revision,
        "limit": limit, "max_new_tokens": max_new_tokens})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    samples = out.with_suffix(".samples.jsonl")
    samples.write_text("".join(json.dumps({"task": r.spec.name, **s}, ensure_ascii=False) + "\n"
                               for r in results for s in r.samples))
    click.echo(f"wrote {out} and {samples}")


@recipe.command("import-lm-eval", epilog="""\b
Examples:
  hubtool recipe import-lm-eval harness/results_2025-01-01.json --out results/exp_2_111.json
  hubtool recipe import-lm-eval harness-output/HiTZ__Latxa-Llama-3.1-8B-Instruct/ --out results/exp_2_111.json
A directory is read whole: every results*.json under it (one harness call per task), a re-run task keeps its
latest result.""")
@click.argument("harness_results", type=click.Path(exists=True, path_type=Path))
@click.option("--model-name", default=None, help="Model id to record (default: the harness's model_name, "
                                                  "unless it is a local path).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def import_lm_eval_cmd(harness_results: Path, model_name: str | None, out: Path) -> None:
    """Convert lm-evaluation-harness results (a file or a whole output directory) into hubtool eval results."""
    from recipes.evaluate.lm_eval_import import import_path

    try:
        doc = import_path(harness_results, model_name)
    except (ValueError, KeyError) as err:
        raise click.ClickException(f"{harness_results}: {err}")
    _write_results(doc, out)


def _write_results(doc: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    groups = sum(1 for r in doc["results"] if r["dataset"]["args"].get("subtasks"))
    click.echo(f"wrote {out}: {sum(len(r['metrics']) for r in doc['results'])} metrics from "
               f"{len(doc['results'])} tasks ({groups} groups) of {doc['model'] or 'an unnamed model'} "
               f"({doc['source']['name']})")


@recipe.command("lm-eval", epilog="""\b
Examples:
  hubtool recipe lm-eval --model out/train/exp_2_111-merged --model-name hitz/latxa-8b --tasks hubtool_eu \\
      --output-dir harness/exp_2_111 --out results/exp_2_111.json
  hubtool recipe lm-eval --model hitz/latxa-8b --revision exp_2_111 --tasks eus_exams_eu,xstorycloze_eu \\
      --num-fewshot 5 --backend vllm --python ~/venvs/vllm/bin/python --model-arg tensor_parallel_size=8 \\
      --output-dir harness/exp_2_111 --out results/exp_2_111.json
The bundled group `hubtool_eu` runs anywhere; harness tasks such as eus_exams_eu download their data.""")
@click.option("--model", required=True, help="Model folder or Hub id.")
@click.option("--revision", default=None, help="Branch or tag of a Hub model (a variant).")
@click.option("--model-name", default=None, help="Model id for model-index (required for a local folder).")
@click.option("--tasks", required=True, help="Comma-separated harness tasks or groups.")
@click.option("--backend", type=click.Choice(["hf", "vllm"]), default="hf", show_default=True)
@click.option("--python", "python_cmd", default=None, help="Interpreter that runs the harness (vllm: the vLLM "
                                                          "environment's).")
@click.option("--num-fewshot", type=click.IntRange(0), default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="First N examples of each task.")
@click.option("--batch-size", default="auto", show_default=True)
@click.option("--model-arg", "model_args", multiple=True, help="KEY=VALUE for the harness's --model_args "
                                                               "(dtype, attn_implementation, tensor_parallel_size...).")
@click.option("--include-path", "include_paths", multiple=True, type=click.Path(exists=True, file_okay=False,
                                                                                path_type=Path))
@click.option("--device", default=None)
@click.option("--apply-chat-template", is_flag=True)
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The harness's --output_path (its results files stay there).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def lm_eval_cmd(model: str, revision: str | None, model_name: str | None, tasks: str, backend: str,
                python_cmd: str | None, num_fewshot: int | None, limit: int | None, batch_size: str,
                model_args: tuple[str, ...], include_paths: tuple[Path, ...], device: str | None,
                apply_chat_template: bool, output_dir: Path, out: Path) -> None:
    """Run lm-evaluation-harness (HF or vLLM backend) and import its results directory into hubtool eval results."""
    from recipes.evaluate.lm_eval_run import LmEvalRun, run_lm_eval

    if Path(model).exists() and not model_name:
        raise click.UsageError("--model is a local folder: give --model-name, the Hub id the results belong to")
    bad = [a for a in model_args if "=" not in a]
    if bad:
        raise click.UsageError(f"--model-arg {bad[0]!r}: expected KEY=VALUE")
    run = LmEvalRun(model=model, tasks=[t.strip() for t in tasks.split(",") if t.strip()], output_dir=output_dir,
                    backend=backend, revision=revision, num_fewshot=num_fewshot, batch_size=batch_size, limit=limit,
                    include_paths=list(include_paths), model_args=dict(a.split("=", 1) for a in model_args),
                    python=python_cmd, device=device, apply_chat_template=apply_chat_template)
    try:
        doc = run_lm_eval(run, model_name)
    except (ValueError, RuntimeError) as err:
        raise click.ClickException(str(err))
    _write_results(doc, out)


@recipe.command("train", epilog="""\b
Examples:
  hubtool recipe train --config recipes/configs/train/tiny.yaml --list
  hubtool recipe train --config recipes/configs/train/tiny.yaml                 # every variant of the grid
  hubtool recipe train --config recipes/configs/train/tiny.yaml --variant exp_2_111 --resume
Multi-GPU: accelerate launch --config_file recipes/configs/accelerate/fsdp.yaml -m recipes.train --config ...""")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--variant", "variants", multiple=True, help="Train only this variant (repeatable).")
@click.option("--list", "list_only", is_flag=True, help="Print the variants the grid expands to.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint of each variant.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None)
@endpoint_option
@json_option
def train_cmd(config_path: Path, variants: tuple[str, ...], list_only: bool, resume: bool, output: Path | None,
              endpoint: str | None, as_json: bool) -> None:
    """Fine-tune the backbone on the configured data mix (TRL SFTTrainer; LoRA or full), one artifact per variant."""
    from recipes.train.config import (
        TrainConfigError,
        expand_variants,
        load_train_config,
    )
    from recipes.train.run import TINY_BASE, train_grid

    try:
        cfg = load_train_config(config_path)
        grid = expand_variants(cfg)
    except (TrainConfigError, ValueError) as err:
        raise click.UsageError(str(err))
    if list_only:
        for v in grid:
            click.echo(f"{v.name}  " + " ".join(f"{k}={on}" for k, on in v.use.items()))
        return
    base_on_hub = cfg.base_model != TINY_BASE and is_hub_ref(cfg.resolve(cfg.base_model))
    if base_on_hub or any(src.hub for src in cfg.sources()):  # the backbone or a data source is on a Hub
        target = hub_target(endpoint)
        require_on_hub(target, "model", cfg.base_model if base_on_hub else None)
        require_on_hub(target, "dataset", *(src.hub for src in cfg.sources()))
    try:
        results = train_grid(cfg, variants, output, resume=resume, on_step=lambda m: click.echo(m, err=True))
    except TrainConfigError as err:
        raise click.UsageError(f"{config_path}: {err}")
    done = []
    for r in results:
        done.append({"variant": r.variant, "output": str(r.output), "merged": str(r.merged) if r.merged else None,
                     "steps": r.global_step, "final_loss": r.losses[-1][1] if r.losses else None,
                     "resumed_from": r.resumed_from})
        click.echo(f"  {r.variant}: {r.global_step} steps, final loss {done[-1]['final_loss']}, wrote {r.output}",
                   err=True)
    if as_json:
        click.echo(json.dumps(done, indent=2))


@recipe.command("preferences", epilog="""\b
Examples:
  export HUBTOOL_PREFERENCES_SALT=$(cat ~/.secrets/arena-salt)
  hubtool recipe preferences --votes space/data/votes.sqlite --out out/eu-arena --name eu-arena
  hubtool recipe preferences --votes hitz/arena-votes --out out/eu-arena --name eu-arena --include-raw
The salt pseudonymizes usernames; keep it secret and stable between releases.""")
@click.option("--votes", "source", required=True, help="The Space's votes.sqlite, a folder of exported batches, "
                                                         "or the Hub dataset repo the Space exports to.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--name", required=True)
@click.option("--language", default="eu", show_default=True)
@click.option("--include-raw", is_flag=True, help="Also the unsanitized `YY-MM` config (publish it privately).")
@click.option("--period", default=None, help="Collection period YY-MM that names the configs (default: the month "
                                             "of the first vote).")
@click.option("--bootstrap", "bootstrap_rounds", type=click.IntRange(0), default=1000, show_default=True)
@click.option("--salt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Secret salt for username pseudonyms (default: env HUBTOOL_PREFERENCES_SALT).")
@endpoint_option
def preferences_cmd(source: str, out: Path, name: str, language: str, include_raw: bool, period: str | None,
                    bootstrap_rounds: int, salt_file: Path | None, endpoint: str | None) -> None:
    """Arena votes -> preference dataset in the reference schema (sanitized, DPO, KTO, sampling) + rankings."""
    import os

    from recipes.preferences.build import build_preferences, load_votes

    salt = (salt_file.read_bytes().strip() if salt_file else os.environ.get("HUBTOOL_PREFERENCES_SALT", "").encode())
    if not salt:
        raise click.UsageError("no salt: set HUBTOOL_PREFERENCES_SALT or pass --salt-file (keep it secret)")
    hub_target_if_needed(endpoint, source)  # --votes ORG/REPO: the export repo on that Hub
    votes = load_votes(source)
    try:
        build_preferences(votes, out, name, language, salt, include_raw, bootstrap_rounds, source=source,
                          period=period)
    except ValueError as err:
        raise click.ClickException(str(err))
    from hub_tools.artifacts.provenance import read_provenance

    for dim, table in read_provenance(out).statistics["rankings"].items():
        click.echo(f"{dim}: " + ", ".join(f"{r['rank']}. {r['model']} {r['rating']}" for r in table))
    click.echo(f"wrote {out} from {len(votes)} votes. Next: hubtool validate {out}")
