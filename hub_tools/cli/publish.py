"""`hubtool push`, `hubtool release` and `hubtool verify`."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from hub_tools.cli import output
from hub_tools.cli.options import endpoint_option, hub_target, json_option


def print_plan(plan: dict, title: str) -> None:
    table = Table(title=title)
    for col in ("action", "file", "size"):
        table.add_column(col)
    for c in plan["changes"]:
        table.add_row(c["action"], c["path"], output.human_bytes(c["size"]))
    s = plan["summary"]
    output.stdout().print(table if plan["changes"] else f"{title}: nothing to change")
    output.stdout().print(f"{s['add']} added, {s['change']} changed, {s['remove']} removed, {s['unchanged']} unchanged; "
                 f"{output.human_bytes(s['upload_bytes'])} to upload")


def push_artifact(artifact_dir: Path, repo_id: str, revision: str, private: bool, version: str | None,
                  license_: str | None, endpoint: str | None, dry_run: bool = False):
    """Validate, render the card and push (or only plan, with ``dry_run``). Exits 1 on an invalid artifact."""
    from hub_tools.publish.cards import CardContext, render_card_files
    from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND
    from hub_tools.artifacts.provenance import read_provenance
    from hub_tools.cli.validate import print_report
    from hub_tools.publish.push import plan_push
    from hub_tools.publish.push import push as do_push
    from hub_tools.validate import validate_artifact

    report = validate_artifact(artifact_dir)
    if not report.ok():
        print_report(report, False, f"hubtool validate {artifact_dir}")
        raise SystemExit(1)
    prov = read_provenance(artifact_dir)
    repo_type = REPO_TYPE_OF_KIND[prov.kind]
    ctx = CardContext(name=prov.name, kind=prov.kind, repo_id=repo_id, revision=revision, version=version,
                      license=license_ or prov.card.get("license", "other"), languages=prov.language)
    card = render_card_files(artifact_dir, ctx, report.statistics.get(artifact_dir.name))
    api = hub_target(endpoint).api()  # after validation: an invalid artifact never starts a hub
    if dry_run:
        return plan_push(api, artifact_dir, repo_id, repo_type, revision, card.text, card.files)
    message = f"hubtool push{' ' + version if version else ''}: {prov.name}"
    description = f"{prov.kind} from recipe {prov.recipe.name} {prov.recipe.version}" + (
        f", git {prov.git_commit[:12]}" if prov.git_commit else "")
    return do_push(api, artifact_dir, repo_id, repo_type, revision, message, description, private,
                   prov.card.get("sdk", "gradio") if repo_type == "space" else None, card.text,
                   extra_files=card.files)


@click.command(epilog="""\b
Examples:
  hubtool push artifacts/corpus --repo hitz/eu-corpus --dry-run
  hubtool push out/exp_2_111 --repo hitz/latxa-instruct --revision exp_2_111 --version v1.0
Exit code: 0 pushed (or nothing to change), 1 invalid artifact or Hub refusal, 2 usage error.""")
@click.argument("artifact_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo", "repo_id", required=True, help="Target repo id, org/name.")
@click.option("--revision", default="main", show_default=True, help="Branch to push to (created if missing).")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--version", "version", default=None, help="Version named in the card and the commit message.")
@click.option("--license", "license_", default=None, help="Licence id for the card (default: hubtool.json card).")
@endpoint_option
@click.option("--dry-run", is_flag=True, help="Print the plan (files added/changed/removed/unchanged) and stop.")
@json_option
def push(artifact_dir: Path, repo_id: str, revision: str, private: bool, version: str | None, license_: str | None,
         endpoint: str | None, dry_run: bool, as_json: bool) -> None:
    """Push one artifact folder and its generated card as one commit; the repo ends up equal to the folder."""
    result = push_artifact(artifact_dir, repo_id, revision, private, version, license_, endpoint, dry_run)
    if dry_run:
        plan = result.to_dict()
        output.emit(plan, as_json, lambda p: print_plan(p, f"{repo_id}@{revision} (dry run)"))
        return
    out = {"repo_id": repo_id, "revision": revision, "commit": result.commit, "head": result.head,
           "attempts": result.attempts, "plan": result.plan.to_dict()}
    if as_json:
        output.emit(out, as_json)
    elif result.commit:
        s = result.plan.summary()
        click.echo(f"pushed {repo_id}@{revision}: commit {result.commit[:10]} ({s['add']} added, {s['change']} "
                   f"changed, {s['remove']} removed, {output.human_bytes(s['upload_bytes'])} uploaded)")
    else:
        click.echo(f"{repo_id}@{revision} already equals {artifact_dir}: no commit made (head {result.head[:10]})")


@click.command(epilog="""\b
Examples:
  hubtool release release.yaml --dry-run        # validate and show what would change; touch nothing
  hubtool release release.yaml                  # validate, push, tag, collection, verify
  hubtool release release.yaml --only corpus --json
  hubtool release release.yaml --build          # run the recipes first (hubtool build), then release
  hubtool release release.yaml --create-pr      # through pull requests, merged if the token may
Safe to re-run: finished artifacts make no commit. Tags are created only after every push succeeded
(with --create-pr: after every pull request is merged; re-run once a maintainer merged them).
Exit code: 0 released and verified, 1 invalid/refused/verification failed, 2 usage error.""")
@click.argument("manifest_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and print the plan of every artifact; change nothing.")
@click.option("--only", multiple=True, help="Release only this artifact (repeatable).")
@endpoint_option
@click.option("--no-verify", is_flag=True, help="Skip reading the release back.")
@click.option("--create-pr", is_flag=True, help="Propose each change as a pull request and merge it when the "
              "token may; for tokens that may only open pull requests, stop before tagging.")
@click.option("--build", "build_first", is_flag=True, help="Build the manifest's stages first (hubtool build).")
@json_option
def release(manifest_path: Path, dry_run: bool, only: tuple[str, ...], endpoint: str | None, no_verify: bool,
            create_pr: bool, build_first: bool, as_json: bool) -> None:
    """Publish every artifact of a release manifest, tag the version, update the collection, verify."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from hub_tools.artifacts.manifest import load_manifest
    from hub_tools.cli.validate import print_report
    from hub_tools.publish.release import ReleaseInvalid, run_release

    if build_first:
        from hub_tools.cli.build import build_manifest

        build_manifest(manifest_path, only, endpoint=endpoint, quiet=as_json)
    manifest = load_manifest(manifest_path)
    api = hub_target(endpoint).api()
    quiet = as_json or not sys.stderr.isatty()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=output.stderr(), disable=quiet)
    try:
        with progress:
            task = progress.add_task("validating", total=None)

            def on_step(msg: str) -> None:
                progress.update(task, description=msg)
                if quiet and not as_json:
                    output.stderr().print(msg)

            result = run_release(manifest, api, dry_run=dry_run, only=set(only) or None, verify=not no_verify,
                                 on_step=on_step, create_pr=create_pr)
    except ReleaseInvalid as err:
        if as_json:
            output.emit({"ok": False, "stage": "validate", "findings": [f.to_dict() for f in err.report.findings]},
                        as_json)
        else:
            print_report(err.report, False, f"hubtool release {manifest_path}: validation")
            output.stderr().print("[red]release stopped before the first upload[/]")
        raise SystemExit(1)
    data = result.to_dict()
    output.emit(data, as_json, _print_release)
    if data["verified"] is False:
        raise SystemExit(1)


def _print_release(data: dict) -> None:
    title = f"release {data['version']} -> {data['endpoint']}{' (dry run)' if data['dry_run'] else ''}"
    table = Table(title=title)
    for col in ("artifact", "repo", "revision", "tag", "commit", "changes", "url"):
        table.add_column(col, overflow="fold")
    for a in data["artifacts"]:
        s = a["plan"]["summary"]
        changes = f"+{s['add']} ~{s['change']} -{s['remove']} ({output.human_bytes(s['upload_bytes'])})"
        commit = (a["commit"] or "no change")[:10] if not data["dry_run"] else "-"
        table.add_row(a["name"], a["repo_id"], a["branch"], a["tag"], commit, changes, a["url"])
    output.stdout().print(table)
    if data["dry_run"]:
        for a in data["artifacts"]:
            for c in a["plan"]["changes"]:
                output.stdout().print(f"  {a['name']}: {c['action']:9s} {c['path']} ({output.human_bytes(c['size'])})")
        return
    output.stdout().print(f"{data['commits']} commit(s); tags created: {', '.join(data['tags_created']) or 'none'}; "
                 f"collection: {data['collection'] or '-'}")
    if data["open_pull_requests"]:
        output.stdout().print("pull requests waiting for a maintainer (then re-run this release to tag it):\n  "
                     + "\n  ".join(data["open_pull_requests"]))
    if data["verify"] is not None:
        _print_verify(data["verify"])


def _print_verify(checks: list[dict]) -> None:
    table = Table(title="verify: read back from the Hub")
    for col in ("artifact", "repo@revision", "check", "result", "detail"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c["artifact"], f"{c['repo']}@{c['revision']}", c["check"],
                      "[green]pass[/]" if c["ok"] else "[red]FAIL[/]", c["detail"])
    output.stdout().print(table)
    failed = [c for c in checks if not c["ok"]]
    output.stdout().print("[green]verified[/]" if not failed else f"[red]{len(failed)} check(s) failed[/]")


@click.command(epilog="""\b
Examples:
  hubtool verify release.yaml
  hubtool verify release.yaml --only corpus --json
Exit code: 0 every check passed, 1 a mismatch or an unreadable artifact.""")
@click.argument("manifest_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--only", multiple=True, help="Verify only this artifact (repeatable).")
@endpoint_option
@json_option
def verify(manifest_path: Path, only: tuple[str, ...], endpoint: str | None, as_json: bool) -> None:
    """Read a published release back as the community would (load_dataset, snapshot_download, generate)."""
    from hub_tools.artifacts.manifest import load_manifest
    from hub_tools.publish.verify import verify_release

    manifest = load_manifest(manifest_path)
    checks = [c.__dict__ for c in verify_release(manifest, hub_target(endpoint).api(), only=set(only) or None)]
    output.emit({"ok": all(c["ok"] for c in checks), "checks": checks}, as_json, lambda d: _print_verify(d["checks"]))
    if not all(c["ok"] for c in checks):
        raise SystemExit(1)
