"""`hubtool space deploy|run|loadtest`: the demo Space (space/app.py) on the Hub, locally, under load."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click
import yaml

from hub_tools.cli.options import endpoint_option, hub_target, hub_target_if_needed, json_option
from hub_tools.cli.publish import print_plan, push_artifact

CONFIG_HELP = "Space settings YAML (default: space/space.yaml of this checkout)."


@click.group(epilog="""\b
Examples:
  hubtool space run                                      # the sample models, from the local hub
  hubtool space deploy --repo hitz/latxa-demo --dry-run
  hubtool space loadtest http://127.0.0.1:7860 --voters 50 --votes 1000 --json
""")
def space() -> None:
    """The demo Space: streaming chat, arena and leaderboard (space/app.py)."""


def _settings_path(config: Path | None) -> Path:
    from hub_tools.publish.space_bundle import SpaceBundleError, default_settings_path

    try:
        return config or default_settings_path()
    except SpaceBundleError as err:
        raise click.ClickException(str(err))


@space.command("deploy", epilog="""\b
Examples:
  hubtool space deploy --repo hitz/latxa-demo --dry-run
  hubtool space deploy --repo hitz/latxa-demo --config space/space.yaml --votes-repo hitz/latxa-arena-votes
  hubtool space deploy --repo hitz/latxa-demo --model-endpoint https://vllm.example.org/v1
The Space needs a secret HF_TOKEN (write access to the votes repo) to export votes: add it in the
Space settings; hubtool never sends tokens anywhere.""")
@click.option("--repo", "repo_id", required=True, help="The Space repo id, org/name.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option("--votes-repo", default=None, help="Dataset repo that receives the votes (variable HUBTOOL_VOTES_REPO).")
@click.option("--model-endpoint", default=None,
              help="OpenAI-compatible base URL for `openai` models (variable HUBTOOL_OPENAI_BASE_URL).")
@click.option("--license", "license_", default="apache-2.0", show_default=True)
@click.option("--private", is_flag=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the staged Space folder here (default: a temporary folder).")
@endpoint_option
@click.option("--dry-run", is_flag=True, help="Stage, validate and print the plan; upload nothing.")
@json_option
def deploy(repo_id: str, config: Path | None, votes_repo: str | None, model_endpoint: str | None, license_: str,
           private: bool, out: Path | None, endpoint: str | None, dry_run: bool, as_json: bool) -> None:
    """Stage space/ (app, vendored hubtool modules, settings, pinned requirements, README metadata),
    validate it, push it as one commit and set the Space variables."""
    from hub_tools.publish.space_bundle import SpaceBundleError, stage_space

    config = _settings_path(config)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="hubtool-space-") as tmp:
        folder = out or Path(tmp) / "space"
        try:
            stage_space(folder, settings, name=repo_id.split("/")[-1], license=license_, votes_repo=votes_repo)
        except (SpaceBundleError, ValueError) as err:
            raise click.ClickException(str(err))
        result = push_artifact(folder, repo_id, "main", private, None, license_, endpoint, dry_run)
        variables = {"HUBTOOL_SPACE_CONFIG": "space.yaml"}
        if votes_repo:
            variables["HUBTOOL_VOTES_REPO"] = votes_repo
        if model_endpoint:
            variables["HUBTOOL_OPENAI_BASE_URL"] = model_endpoint
        if dry_run:
            plan = result.to_dict()
            if as_json:
                click.echo(json.dumps({"repo_id": repo_id, "plan": plan, "variables": variables}, indent=2))
            else:
                print_plan(plan, f"{repo_id} (dry run)")
                click.echo(f"variables to set: {', '.join(variables)}")
            return
        api = hub_target(endpoint).api()
        for key, value in variables.items():
            api.add_space_variable(repo_id, key, value, description="set by hubtool space deploy")
    data = {"repo_id": repo_id, "commit": result.commit, "head": result.head, "variables": variables,
            "url": f"{api.endpoint}/spaces/{repo_id}"}
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"deployed {repo_id}: {'commit ' + result.commit[:10] if result.commit else 'no change'}; "
                   f"variables {', '.join(variables)}")


@space.command("run", epilog="""\b
Examples:
  hubtool quickstart && hubtool space run           # the sample models, from the local hub
  hubtool space run --config my-space.yaml --port 7861
  HUBTOOL_OPENAI_BASE_URL=http://127.0.0.1:8000/v1 hubtool space run --config prod.yaml""")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=CONFIG_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--votes-db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite vote store (default: the settings' votes_db).")
@endpoint_option
def run(config: Path | None, host: str, port: int, votes_db: Path | None, endpoint: str | None) -> None:
    """Serve the demo locally; models are loaded from the Hub endpoint (the local hub by default)."""
    import os

    from hub_tools.publish.space_bundle import space_source

    config = _settings_path(config)
    if votes_db:
        os.environ["HUBTOOL_VOTES_DB"] = str(votes_db.resolve())
    sys.path.insert(0, str(space_source()))
    from app import create_demo, launch  # noqa: E402  (space/app.py)
    from settings import SettingsError, load_settings

    try:
        settings = load_settings(config)
        # the Hub of the one rule, bound process-wide, only where a model, an adapter or the votes repo is on it
        # (endpoint-only demos start no hub)
        hub_refs = [ref for spec in settings.models if spec.backend == "transformers"
                    for ref in (spec.model, spec.adapter)]
        hub_target_if_needed(endpoint, *hub_refs, settings.votes_repo)
        demo = create_demo(settings)
    except SettingsError as err:
        raise click.ClickException(str(err))
    click.echo(f"serving {settings.title!r} ({len(settings.models)} models, votes in {settings.votes_db})", err=True)
    launch(demo, server_name=host, server_port=port, show_error=True)  # with the sign-in the settings ask for


@space.command("loadtest", epilog="""\b
Examples:
  hubtool space loadtest http://127.0.0.1:7860 --voters 50 --votes 1000 --json
  hubtool space loadtest http://127.0.0.1:7860 --reading 2 4 --ramp 4   # voters who read before judging
Exit code: 0 when every vote was acknowledged, 1 otherwise.""")
@click.argument("url")
@click.option("--voters", default=50, show_default=True, type=click.IntRange(1))
@click.option("--votes", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, type=int)
@click.option("--reading", nargs=2, type=click.FloatRange(0), default=(0.0, 0.0), show_default=True,
              metavar="MIN MAX", help="Seconds each voter reads the two answers before voting (uniform in the range; "
              "0 0: votes at once, the Space's saturation).")
@click.option("--ramp", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds over which the voters arrive, one after another (0: all at once).")
@json_option
def loadtest(url: str, voters: int, votes: int, seed: int, reading: tuple[float, float], ramp: float,
             as_json: bool) -> None:
    """Simulated voters play arena battles and vote through the app's Gradio API; latencies reported."""
    if reading[0] > reading[1]:
        raise click.BadParameter(f"MIN {reading[0]:g} is above MAX {reading[1]:g}", param_hint="--reading")
    from rich.progress import Progress

    from hub_tools.serving.space_loadtest import run_load

    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("votes", total=votes)
        result = run_load(url, voters, votes, seed, progress=lambda n: bar.advance(task, n), reading_s=reading,
                          ramp_s=ramp)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"{result.acknowledged}/{votes} votes acknowledged by {voters} voters in {result.wall_s}s "
                   f"({result.votes_per_s}/s); vote latency p50 {result.vote_latency_ms.get('p50')} ms, "
                   f"p99 {result.vote_latency_ms.get('p99')} ms")
        for err in result.errors:
            click.echo(f"  error: {err}", err=True)
    if result.acknowledged != votes:
        raise SystemExit(1)
