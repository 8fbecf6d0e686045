"""`hubtool build`: run the recipes of a release manifest in dependency order, skipping unchanged stages."""
from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from hub_tools.cli import output
from hub_tools.cli.options import endpoint_option, hub_target, json_option


def print_build(data: dict) -> None:
    table = Table(title=f"build {data['manifest']}")
    for col in ("stage", "recipe", "status", "seconds", "output", "summary"):
        table.add_column(col, overflow="fold")
    colors = {"built": "green", "skipped": "cyan", "failed": "red", "not run": "dim"}
    for s in data["stages"]:
        summary = ", ".join(f"{k}: {v}" for k, v in (s["summary"] or {}).items()) if s["status"] != "failed" \
            else s["error"] or ""
        table.add_row(s["name"], s["recipe"], f"[{colors[s['status']]}]{s['status']}[/]",
                      f"{s['seconds']:.1f}" if s["status"] in ("built", "failed") else "", s["output"], summary)
    output.stdout().print(table)


def build_manifest(manifest_path: Path, only: tuple[str, ...] = (), force: bool = False, endpoint: str | None = None,
                   quiet: bool = False):
    """Load, bind a Hub when an input comes from one, build; returns the BuildResult (raises BuildFailed)."""
    import logging

    from hub_tools.artifacts.manifest import load_manifest
    from hub_tools.cli.recipe import _quiet_datatrove
    from hub_tools.pipelines.build import run_build

    _quiet_datatrove(logging.getLogger().level <= logging.DEBUG)
    manifest = load_manifest(manifest_path)
    stages = [a.build for a in manifest.artifacts if a.build] + [s.build for s in manifest.stages]
    if endpoint or any(ref.hub for b in stages for _, ref in b.refs()):
        hub_target(endpoint)
    return run_build(manifest, only=set(only) or None, force=force,
                     on_step=None if quiet else output.status)


@click.command(epilog="""\b
Examples:
  hubtool build release.yaml                    # every stage whose config, inputs or code changed
  hubtool build release.yaml --only exp_1_110   # that artifact and what it needs
  hubtool build release.yaml --force --json
  hubtool release release.yaml --build          # build, then release
A failed stage stops the build (named, exit 1); run it again to resume there.""")
@click.argument("manifest_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--only", multiple=True, help="Build only this artifact or stage and what it needs (repeatable).")
@click.option("--force", is_flag=True, help="Rebuild every stage, changed or not.")
@endpoint_option
@json_option
def build(manifest_path: Path, only: tuple[str, ...], force: bool, endpoint: str | None, as_json: bool) -> None:
    """Run the recipes of a release manifest (each artifact's `build:`) in dependency order; a stage whose
    config, inputs and recipe code are unchanged is skipped."""
    from hub_tools.pipelines.build import BuildFailed

    try:
        result = build_manifest(manifest_path, only, force, endpoint, quiet=as_json)
    except BuildFailed as err:
        output.emit({"ok": False, **err.result.to_dict(), "failed": err.stage}, as_json, print_build)
        raise
    output.emit({"ok": True, **result.to_dict()}, as_json, print_build)
