"""Generated docs match the code (regenerate with `python -m hub_tools.validate.docs_gen`)."""
from pathlib import Path

from hub_tools.validate.docs_gen import DOCS, provenance_schema_json, validation_codes_markdown


def test_generated_docs_are_current():
    assert (DOCS / "validation-codes.md").read_text() == validation_codes_markdown()
    assert (DOCS / "provenance.schema.json").read_text() == provenance_schema_json()


def test_readme_opens_with_the_two_commands():
    readme = (Path(__file__).parent.parent / "README.md").read_text().splitlines()
    block = readme[readme.index("```bash") + 1: readme.index("```bash") + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make quickstart", "make test"]
    assert "make test" in (Path(__file__).parent.parent / ".ci" / "run").read_text()


def test_example_manifest_is_schema_valid():
    from hub_tools.artifacts.manifest import load_manifest

    manifest = load_manifest(Path(__file__).parent.parent / "examples" / "release.yaml")
    assert manifest.repo_id(manifest.artifacts[0]) == "hitz/latxa-corpus"
    assert manifest.line_of("artifacts", 3, "branch") is not None


def test_readme_benchmark_table_is_the_recorded_results():
    """The README's benchmark table is what `python -m benchmarks --readme` prints from the committed results
    file: no figure in it is written by hand or left from an earlier run."""
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    table = subprocess.run([sys.executable, "-m", "benchmarks", "--readme"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert table.count("\n| ") >= 10 and table in (root / "README.md").read_text()
