"""``hubtool quickstart``: the main job end to end on embedded defaults: the bundled quickstart project (one
release manifest that says how every artifact is made), built by the recipes on the bundled raw sample with
tiny profiles, released to the local staging hub and read back."""
from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from hub_tools.cli import output
from hub_tools.cli.options import hub_target, json_option


def _render(data: dict) -> None:
    from hub_tools.cli.build import print_build
    from hub_tools.cli.publish import _print_verify

    print_build(data["build"])
    table = Table(title=f"released {data['release']['version']} to {data['endpoint']}")
    for col in ("artifact", "repo", "branch", "tag", "revision", "commit", "rows"):
        table.add_column(col, overflow="fold")
    for a in data["artifacts"]:
        rows = ", ".join(f"{k} {v:,}" for k, v in (a["rows"] or {}).items())
        table.add_row(a["name"], f"{a['repo_type']}s/{a['repo_id']}" if a["repo_type"] != "model" else a["repo_id"],
                      a["branch"], a["tag"], (a["revision"] or "")[:10], (a["commit"] or "no change")[:10], rows)
    out = output.stdout()
    out.print(table)
    if data["release"].get("verify") is not None:
        _print_verify(data["release"]["verify"])
    times = Table(title="time per stage (s)")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for name, s in data["seconds"].items():
        times.add_row(name, f"{s:.1f}")
    out.print(times)
    corpus = next(a for a in data["artifacts"] if a["name"] == "corpus")
    variant = next(a for a in data["artifacts"] if a["branch"] != "main")
    base = next(a for a in data["artifacts"] if a["name"] == "base")
    work = data["workdir"]
    out.print(f"""
[bold]Where to look[/]
  the one file that says how everything is made: {data['manifest']}
  artifacts (data, weights, hubtool.json): {work}/artifacts/   build state: {work}/.hubtool/
  the Hub: {data['endpoint']}  ({data['release']['commits']} commit(s) this run; tags {data['release']['version']}*)
Read it like the community would:
  export HF_ENDPOINT={data['endpoint']} HF_HUB_DISABLE_XET=1
  python -c "import datasets; datasets.config.USE_PARQUET_EXPORT = False; print(datasets.load_dataset('{corpus['repo_id']}', revision='{corpus['tag']}'))"
  python -c "from transformers import AutoModelForCausalLM; from peft import PeftModel; \\
print(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained('{base['repo_id']}', revision='{base['tag']}'), '{variant['repo_id']}', revision='{variant['branch']}'))"
Change something (a corpus source, a weight) and run again: unchanged stages are skipped.
  hubtool build {data['manifest']} && hubtool release {data['manifest']}
Try the demo Space on these models: hubtool quickstart --serve""")


@click.command(epilog="""\b
Examples:
  hubtool quickstart
  hubtool quickstart --workdir ./demo --json
  hubtool quickstart --serve          # leave the hub and the demo Space running, print their URLs
  hubtool quickstart --endpoint http://127.0.0.1:8081   # another staging hub
Exit code: 0 built, released and verified; 1 a stage, the release or a verify check failed.""")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the project is built. [default: $HUBTOOL_HOME/quickstart]")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub endpoint. Default: the local staging hub, also when HF_ENDPOINT or a Hub token is set.")
@click.option("--serve", is_flag=True, help="Then serve the demo Space on the released models (the local hub "
                                            "keeps running); print the URLs; Ctrl-C stops the Space.")
@click.option("--port", default=7860, show_default=True, type=int, help="--serve: the Space's port.")
@json_option
def quickstart(workdir: Path | None, endpoint: str | None, serve: bool, port: int, as_json: bool) -> None:
    """Build the quickstart project from bundled raw text with the recipes (corpus -> toy base model ->
    Magpie and backtranslated instructions -> two LoRA variants -> evaluation -> a simulated arena round ->
    preference data), validate it, release it to the local staging hub, and read it all back."""
    import logging

    from hub_tools.cli.recipe import _quiet_datatrove
    from hub_tools.localhub.server import default_home
    from hub_tools.pipelines.quickstart import run_quickstart

    _quiet_datatrove(logging.getLogger().level <= logging.DEBUG)

    target = hub_target(endpoint, rehearsal=True)
    workdir = (workdir or default_home() / "quickstart").resolve()
    output.status(f"building the quickstart project in {workdir}")
    result = run_quickstart(workdir, target.api(), on_step=None if as_json else output.status).to_dict()
    result["note"] = target.note
    output.emit(result, as_json, _render)
    if result["verified"] is False:
        raise SystemExit(1)
    if serve:
        _serve(workdir, target, port)


def _serve(workdir: Path, target, port: int) -> None:
    """The demo Space (its staged settings: the released models at their tags) against the same hub."""
    import sys

    from hub_tools.publish.space_bundle import space_source

    space_settings = workdir / "artifacts" / "space" / "space.yaml"
    sys.path.insert(0, str(space_source()))
    from app import create_demo  # noqa: E402  (space/app.py)
    from settings import load_settings

    settings = load_settings(space_settings)
    settings.votes_db = str(workdir / ".hubtool" / "space-votes.sqlite")
    demo = create_demo(settings)
    output.status(f"hub:   {target.endpoint}  (keeps running; `hubtool hub stop` stops it)\n"
                  f"Space: http://127.0.0.1:{port}/  (Ctrl-C stops it; votes in {settings.votes_db})")
    demo.queue(default_concurrency_limit=4).launch(server_name="127.0.0.1", server_port=port, show_error=True)
