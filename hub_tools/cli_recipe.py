"""`hubtool recipe ...`: run the recipes that produce artifacts."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click


@click.group()
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
Exit code: 0 done, 1 bad input with on_error: stop (file and line are printed), 2 usage/config error.""")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel processes (default: the config's).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Artifact folder (default: the config's `output`).")
@click.option("--resume", is_flag=True, help="Keep finished datatrove tasks of an interrupted run.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def corpus(ctx: click.Context, config_path: Path, workers: int | None, output: Path | None, resume: bool,
           as_json: bool) -> None:
    """Clean, filter, deduplicate and split raw target-language text into a corpus artifact (datatrove)."""
    from rich.console import Console
    from rich.table import Table

    from recipes.corpus.blocks import InputProblem
    from recipes.corpus.config import ConfigError, load_config
    from recipes.corpus.pipeline import ClusterSubmitted, run_corpus

    verbose = logging.getLogger().level <= logging.DEBUG
    _quiet_datatrove(verbose)
    try:
        cfg = load_config(config_path)
    except ConfigError as err:
        raise click.UsageError(str(err))
    err_console = Console(stderr=True)
    try:
        with err_console.status("running the corpus recipe") as status:
            result = run_corpus(cfg, output=output, workers=workers, resume=resume,
                                progress=lambda msg: status.update(msg))
    except InputProblem as err:
        raise click.ClickException(f"{err}\n(on_error: stop in {config_path}; set on_error: skip to skip and count)")
    except ClusterSubmitted as err:
        click.echo(str(err))
        return
    summary = {"output": str(result.output), "rows": result.rows, "wall_time_s": result.wall_time_s,
               "problems": result.problems, "pii_replacements": result.pii,
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
    console.print(f"PII replaced: {result.pii or 'none'}")
    console.print(f"wrote {result.output}: " + ", ".join(f"{k} {v:,} rows" for k, v in result.rows.items())
                  + f" in {result.wall_time_s:.1f}s. Next: hubtool validate {result.output}")


def _n(v) -> str:
    return "" if v is None else f"{v:,}"
