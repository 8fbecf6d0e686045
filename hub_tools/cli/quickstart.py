"""``hubtool quickstart``: the main job end to end on embedded defaults: the local staging hub, tiny
models built on the spot, and the bundled Basque sample data."""
from __future__ import annotations

import json
from pathlib import Path

import click

from hub_tools.cli.options import hub_target, json_option


@click.command(epilog="\b\nExamples:\n  hubtool quickstart\n  hubtool quickstart --workdir ./demo --json")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the sample artifacts are built. [default: $HUBTOOL_HOME/quickstart]")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub endpoint. Default: the local staging hub, also when HF_ENDPOINT or a Hub token is set.")
@json_option
def quickstart(workdir: Path | None, endpoint: str | None, as_json: bool) -> None:
    """Build a sample release (corpus, instructions, preferences, a tiny Llama with two LoRA variants,
    a Space), validate it, publish it to the local staging hub, and read it all back."""
    from hub_tools.artifacts.manifest import load_manifest
    from hub_tools.cli.publish import _print_release
    from hub_tools.localhub.server import default_home
    from hub_tools.publish.release import ReleaseInvalid, run_release
    from hub_tools.samples.builders import build_sample_release

    target = hub_target(endpoint, rehearsal=True)
    workdir = workdir or default_home() / "quickstart"
    if (workdir / "release.yaml").is_file():  # built before: releasing it again must change nothing
        click.echo(f"using the sample release in {workdir}", err=True)
    else:
        click.echo(f"building the sample release in {workdir}", err=True)
        build_sample_release(workdir)
    manifest = load_manifest(workdir / "release.yaml")
    try:
        result = run_release(manifest, target.api(), on_step=lambda m: click.echo(m, err=True)).to_dict()
    except ReleaseInvalid as err:
        raise click.ClickException(f"{err}: run `hubtool validate {manifest.source}`")
    result["manifest"] = str(manifest.source)
    result["note"] = target.note
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_release(result)
        corpus = next(a for a in result["artifacts"] if a["name"] == "corpus")
        click.echo(f"\nRead it like the community would:\n  export HF_ENDPOINT={result['endpoint']} HF_HUB_DISABLE_XET=1\n"
                   f"  python -c \"import datasets; datasets.config.USE_PARQUET_EXPORT = False; "
                   f"print(datasets.load_dataset('{corpus['repo_id']}', revision='{corpus['tag']}'))\"\n"
                   f"Release it again (nothing changes): hubtool release {manifest.source}\n"
                   f"Try the demo Space on these models: hubtool space run  (http://127.0.0.1:7860)\n"
                   f"Make synthetic instructions with them: hubtool recipe synth --config "
                   f"recipes/configs/synth/tiny-magpie.yaml")
    if result["verified"] is False:
        raise SystemExit(1)
