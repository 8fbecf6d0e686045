"""`hubtool adopt`: give an artifact made by another tool the hubtool.json it lacks."""
from __future__ import annotations

from pathlib import Path

import click

from hub_tools.artifacts.provenance import ArtifactKind
from hub_tools.cli import output
from hub_tools.cli.options import json_option

KINDS = list(ArtifactKind.__args__)  # type: ignore[attr-defined]


@click.command(epilog="""\b
Examples:
  hubtool validate checkpoints/axolotl-out             # kind inferred; missing provenance is one finding
  hubtool adopt checkpoints/axolotl-out --kind adapter --tool axolotl --language eu
  hubtool adopt checkpoints/axolotl-out --kind adapter --base-model meta-llama/Llama-3.1-8B --force
Exit code: 0 written, 1 the folder cannot be adopted, 2 usage error.""")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Artifact kind (default: inferred from the files).")
@click.option("--name", default=None, help="Artifact name (default: the folder's name).")
@click.option("--language", "languages", multiple=True, help="ISO 639-1 code of the content (repeatable).")
@click.option("--tool", default="unknown", show_default=True, help="The tool that made it (axolotl, peft, ...).")
@click.option("--tool-version", default="unknown", show_default=True)
@click.option("--base-model", default=None, help="Adapters: the base's Hub id, also written into adapter_config.json.")
@click.option("--force", is_flag=True, help="Replace an existing hubtool.json.")
@json_option
def adopt(folder: Path, kind: str | None, name: str | None, languages: tuple[str, ...], tool: str, tool_version: str,
          base_model: str | None, force: bool, as_json: bool) -> None:
    """Write hubtool.json for an artifact made by another tool: its kind, the fingerprints of its weight or
    data files, and what its own metadata says (local paths are left out). Then: hubtool validate FOLDER."""
    from hub_tools.artifacts.adopt import adopt as do_adopt

    result = do_adopt(folder, kind, name, list(languages), tool, tool_version, base_model, force)
    data = {"folder": str(folder), "kind": result.kind, "files": result.files, "notes": result.notes}

    def render(d: dict) -> None:
        output.stdout().print(f"wrote {folder / 'hubtool.json'}: {d['kind']}, {len(d['files'])} file fingerprint(s)")
        for note in d["notes"]:
            output.stdout().print(f"  note: {note}")
        output.stdout().print(f"Next: hubtool validate {folder}")

    output.emit(data, as_json, render)
