"""Docs generated from the code, so they cannot drift: validation codes and the provenance schema.

    python -m hub_tools.validate.docs_gen   # rewrites docs/validation-codes.md and docs/provenance.schema.json
"""
from __future__ import annotations

import json
from pathlib import Path

from hub_tools.artifacts.provenance import provenance_json_schema
from hub_tools.validate.findings import CODES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def validation_codes_markdown() -> str:
    lines = ["# Validation codes", "", "Generated from `hub_tools/validate/findings.py` by `python -m hub_tools.validate.docs_gen`.",
             "Errors fail `hubtool validate` (exit 1); warnings fail only with `--strict`.", "",
             "| code | severity | problem | how to fix |", "|---|---|---|---|"]
    lines += [f"| {code} | {sev} | {title} | {hint} |" for code, (sev, title, hint) in CODES.items()]
    return "\n".join(lines) + "\n"


def provenance_schema_json() -> str:
    return json.dumps(provenance_json_schema(), indent=2) + "\n"


def main() -> None:
    (DOCS / "validation-codes.md").write_text(validation_codes_markdown())
    (DOCS / "provenance.schema.json").write_text(provenance_schema_json())


if __name__ == "__main__":
    main()
