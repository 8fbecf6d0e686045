"""`hubtool diff`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
from rich.table import Table

from hub_tools.cli import output
from hub_tools.cli.options import endpoint_option, hub_target, json_option

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size such as 256MiB, 1GB or 500000000")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def short(value, width: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows_cell(a: dict) -> str:
    t = a.get("rows_total")
    if not t:
        return ""
    return f"+{t['added']:,} −{t['removed']:,} ={t['kept']:,} ({t['old_rows']:,} → {t['new_rows']:,})"


def print_diff(data: dict) -> None:
    console = output.stdout()
    table = Table(title=f"hubtool diff {data['old']} {data['new']}")
    for col in ("artifact", "kind", "status", "rows (+added −removed =kept)", "schema", "provenance", "card",
                "metrics", "files"):
        table.add_column(col, overflow="fold")
    for a in data["artifacts"]:
        style = {"unchanged": "green", "changed": "yellow"}.get(a["status"], "cyan")
        table.add_row(a["name"], a["kind"] or "", f"[{style}]{a['status']}[/]", _rows_cell(a),
                      str(len(a["schema_changes"]) + len(a["configs_added"]) + len(a["configs_removed"])) or "",
                      str(len(a["provenance"])), str(len(a["card"])), str(len(a["metrics"])), str(len(a["files"])))
    console.print(table)
    for a in data["artifacts"]:
        if a["status"] != "changed":
            continue
        console.print(f"\n[bold]{a['name']}[/]: {a['old']['ref']} → {a['new']['ref']}")
        if a["rows"] and (a["rows_total"]["added"] or a["rows_total"]["removed"]):
            t = Table(title="rows by config and split")
            for col in ("config", "split", "before", "after", "added", "removed", "kept"):
                t.add_column(col, justify="right" if col not in ("config", "split") else "left")
            for r in a["rows"]:
                t.add_row(r["config"], r["split"], *(f"{r[k]:,}" for k in ("old_rows", "new_rows", "added", "removed",
                                                                              "kept")))
            console.print(t)
        for label, key in (("added", "examples_added"), ("removed", "examples_removed")):
            for e in a[key]:
                ident = f" id={e['id']}" if e["id"] is not None else ""
                console.print(f"  {label} row: {e['config']}/{e['split']} {e['file']}:{e['row']}{ident}  {e['preview']}",
                              markup=False, highlight=False)
        for c in a["configs_added"]:
            console.print(f"  config added: {c}")
        for c in a["configs_removed"]:
            console.print(f"  config removed: {c}")
        for s in a["schema_changes"]:
            console.print(f"  schema {s['config']}.{s['column']}: {s['change']} "
                          f"{s['old_type'] or ''}{' → ' if s['change'] == 'type' else ''}{s['new_type'] or ''}",
                          markup=False)
        for section in ("provenance", "card"):
            for c in a[section]:
                values = {"added": short(c["new"]), "removed": short(c["old"]),
                          "changed": f"{short(c['old'], 40)} → {short(c['new'], 40)}"}[c["change"]]
                console.print(f"  {section} {c['field']}: {c['change']} {values}", markup=False, highlight=False)
        if a["metrics"]:
            t = Table(title=f"metrics (beyond error: |delta| > {data['z']} standard errors)")
            for col in ("task", "metric", "before", "after", "delta", "± stderr", "label"):
                t.add_column(col)
            for m in a["metrics"]:
                t.add_row(m["task"], m["metric"], "" if m["old"] is None else f"{m['old']:g}",
                          "" if m["new"] is None else f"{m['new']:g}",
                          "" if m["delta"] is None else f"{m['delta']:+g}",
                          "" if m["stderr"] is None else f"{m['stderr']:.4g}", m["label"])
            console.print(t)
        for f in a["files"]:
            console.print(f"  file {f['change']}: {f['path']}", markup=False)
    console.print("\nchanged" if data["changed"] else "\nno change")


@click.command(epilog="""\b
Examples:
  hubtool diff v1.0 v1.1 --manifest release.yaml         # two published releases, every artifact
  hubtool diff v1.0 release.yaml                         # the published v1.0 against the local folders
  hubtool diff datasets/hitz/eu-corpus@v1.0 datasets/hitz/eu-corpus@v1.1
  hubtool diff datasets/hitz/eu-corpus@v1.0 artifacts/corpus --json
  hubtool diff hitz/latxa-instruct@v1.0-exp_2_111 v1.1-exp_2_111
Exit code: 0 whether or not something changed (with --exit-code: 1 when something changed, as git diff);
1 a side that cannot be read; 2 usage error. The --json schema: docs/diff.schema.json.""")
@click.argument("old")
@click.argument("new")
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Release manifest: bare tags (v1.0) name every artifact of the release at that tag.")
@click.option("--repo", default=None, metavar="[TYPE/]ORG/NAME", help="The repo bare revisions belong to.")
@click.option("--only", multiple=True, help="Compare only this artifact of a release (repeatable).")
@click.option("--memory-budget", "budget", default="256MiB", show_default=True,
              help="Memory for row hashes; past it they are partitioned to disk.")
@click.option("--show-rows", default=10, show_default=True, type=click.IntRange(0),
              help="Added and removed rows listed per artifact (counts are always complete).")
@click.option("--z", "z", default=1.96, show_default=True, type=click.FloatRange(min=0),
              help="A metric delta beyond this many standard errors is labelled 'beyond error'.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where Hub files are downloaded. [default: the Hugging Face cache]")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 1 when something changed (as git diff).")
@endpoint_option
@json_option
def diff(old: str, new: str, manifest_path: Path | None, repo: str | None, only: tuple[str, ...], budget: str,
         show_rows: int, z: float, cache_dir: str | None, exit_code: bool, endpoint: str | None,
         as_json: bool) -> None:
    """What changed between two versions of an artifact or of a whole release: rows (by a content hash per
    row), configs and splits, schema, provenance, licence, evaluation scores (with their standard errors)
    and files."""
    from hub_tools.publish.diff import Options, diff_refs

    target: list = []

    def api():
        if not target:
            target.append(hub_target(endpoint))
        return target[0].api()

    from hub_tools.publish.diff.rowset import MIN_BUDGET

    budget_bytes = parse_size(budget)
    if budget_bytes < MIN_BUDGET:
        raise click.BadParameter(f"at least {MIN_BUDGET} bytes", param_hint="--memory-budget")
    opts = Options(budget_bytes=budget_bytes, show_rows=show_rows, z=z, cache_dir=cache_dir)
    result = diff_refs(old, new, api, manifest_path=manifest_path, repo=repo, only=set(only) or None, opts=opts)
    if target:
        result.endpoint = target[0].endpoint
    data = result.model_dump(mode="json")
    output.emit(data, as_json, print_diff)
    if exit_code and result.changed:
        raise SystemExit(1)
