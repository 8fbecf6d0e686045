"""Calling the CLI in process, as the tests of commands with `--json` output do."""
from __future__ import annotations

import json

from click.testing import CliRunner

from hub_tools.cli import main


def cli(*args) -> tuple[int, dict | str]:
    """Exit code and the parsed JSON output (or the plain output where it is not JSON)."""
    result = CliRunner().invoke(main, list(map(str, args)))
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, result.output
