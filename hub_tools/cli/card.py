"""`hubtool card`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub_tools.cli.options import json_option


@click.command(epilog="""\b
Examples:
  hubtool card release.yaml                           # README.md in every artifact folder of the release
  hubtool card release.yaml --out build/cards         # build/cards/<artifact>/README.md instead
  hubtool card artifacts/corpus --repo hitz/eu-corpus --license cc0-1.0
Figures come from the data and hubtool.json; templates from cards/ (override with `template:`).""")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write cards here instead of into the artifact folders.")
@click.option("--repo", default=None, help="Target repo id (artifact folder only).")
@click.option("--license", "license_", default=None, help="Licence id (artifact folder only).")
@click.option("--revision", default=None, help="Branch or tag the load snippets use (artifact folder only).")
@click.option("--template", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A Jinja template overriding cards/ (artifact folder only).")
@json_option
def card(path: Path, out: Path | None, repo: str | None, license_: str | None, revision: str | None,
         template: Path | None, as_json: bool) -> None:
    """Render README.md cards (YAML metadata + body) for a release manifest or one artifact folder."""
    from hub_tools.publish.cards import CardContext, context_for, write_card
    from hub_tools.artifacts.manifest import ManifestError, load_manifest
    from hub_tools.artifacts.provenance import ProvenanceError, read_provenance

    written: dict[str, str] = {}
    try:
        if path.is_dir():
            prov = read_provenance(path)
            ctx = CardContext(name=prov.name, kind=prov.kind, repo_id=repo or f"{{namespace}}/{prov.name}",
                              license=license_ or prov.card.get("license", "other"), languages=prov.language,
                              revision=revision, template=template)
            written[prov.name] = str(write_card(path, ctx, out))
        else:
            manifest = load_manifest(path)
            for art in manifest.artifacts:
                target = (out / art.name) if out else None
                written[art.name] = str(write_card(manifest.artifact_path(art), context_for(manifest, art), target))
    except (ProvenanceError, ManifestError) as err:
        raise click.ClickException(f"{err}\nRun `hubtool validate {path}` for every problem at once.")
    if as_json:
        click.echo(json.dumps(written, indent=2))
    else:
        for name, p in written.items():
            click.echo(f"{name}: {p}")
    sys.exit(0)
