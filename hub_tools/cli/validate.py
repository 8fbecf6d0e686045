"""`hubtool validate`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub_tools.artifacts.provenance import ArtifactKind
from hub_tools.cli.options import json_option
from hub_tools.validate.findings import Report

KINDS = list(ArtifactKind.__args__)  # type: ignore[attr-defined]


def print_report(report: Report, strict: bool, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    if report.findings:
        table = Table(title=title, show_lines=False, expand=True)
        for col in ("code", "severity", "artifact", "location", "problem", "fix"):
            table.add_column(col, overflow="fold")
        order = {"error": 0, "warning": 1}
        for f in sorted(report.findings, key=lambda f: (order.get(f.severity, 2), f.artifact or "", f.code)):
            style = "red" if f.severity == "error" else "yellow"
            table.add_row(f.code, f"[{style}]{f.severity}[/]", f.artifact or "", f.location, f.message, f.hint)
        console.print(table)
    errors = len([f for f in report.findings if f.severity == "error"])
    warnings = len([f for f in report.findings if f.severity == "warning"])
    verdict = "[green]valid[/]" if report.ok(strict) else "[red]invalid[/]"
    console.print(f"{verdict}: {errors} error(s), {warnings} warning(s){' (--strict: warnings fail)' if strict else ''}")


@click.command(epilog="""\b
Examples:
  hubtool validate release.yaml                 # every artifact of a release, and the manifest
  hubtool validate artifacts/corpus --json      # one artifact folder (kind from its hubtool.json)
  hubtool validate out/adapter --kind adapter --strict

Exit code: 0 valid, 1 invalid (errors; with --strict also warnings), 2 usage error.
Codes, severities and fixes: docs/validation.md.""")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Artifact kind (default: from hubtool.json).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@json_option
@click.option("--endpoint", default=None, help="Hub to look adapter bases up on (default: HF_ENDPOINT, the Hub "
                                               "if a token is set, a running local hub; else no lookups).")
def validate(path: Path, kind: str | None, strict: bool, as_json: bool, endpoint: str | None) -> None:
    """Check a release manifest (release.yaml) or one artifact folder before anything is published."""
    from hub_tools.hub.endpoint import bind_for_lookups
    from hub_tools.validate import validate_path

    bind_for_lookups(endpoint)
    report, _ = validate_path(path, kind=kind)
    if as_json:
        click.echo(json.dumps({"ok": report.ok(strict), "strict": strict,
                               "errors": len([f for f in report.findings if f.severity == "error"]),
                               "warnings": len([f for f in report.findings if f.severity == "warning"]),
                               "findings": [f.to_dict() for f in report.findings]}, indent=2))
    else:
        print_report(report, strict, f"hubtool validate {path}")
    sys.exit(0 if report.ok(strict) else 1)
