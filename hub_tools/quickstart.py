"""``hubtool quickstart``: the end-to-end demo on embedded defaults (local hub, bundled sample data)."""
from __future__ import annotations

import json

import click


@click.command(epilog="\b\nExamples:\n  hubtool quickstart\n  hubtool quickstart --json")
@click.option("--endpoint", default=None, help="Hub endpoint. Default: the local staging hub.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def quickstart(endpoint: str | None, as_json: bool) -> None:
    """Start the local staging hub, publish the bundled sample corpus to it and load it back with
    `datasets.load_dataset`, the way the community would."""
    from .sample_release import run_sample_round_trip

    result = run_sample_round_trip(endpoint)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(result["note"] or f"endpoint: {result['endpoint']}")
    click.echo(f"published {result['repo_id']} at commit {result['commit'][:10]} "
               f"({result['rows']} rows, splits: {', '.join(result['splits'])})")
    click.echo(f"read back with datasets.load_dataset: {result['rows_loaded']} rows, identical: {result['identical']}")
    click.echo("Use it from Python:\n"
               f"  export HF_ENDPOINT={result['endpoint']} HF_HUB_DISABLE_XET=1\n"
               f"  python -c \"import datasets; datasets.config.USE_PARQUET_EXPORT=False; "
               f"print(datasets.load_dataset('{result['repo_id']}'))\"")
