"""All command output goes through here (STYLE.md point 8): results to stdout as text or JSON, progress and
notes to stderr, so `--json` output stays parseable and pipes never see progress."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console


def stdout() -> Console:
    """The console for results (wide enough for tables when not a terminal)."""
    return Console(width=None if sys.stdout.isatty() else 160)


def stderr() -> Console:
    """The console for progress and notes."""
    return Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def status(message: str) -> None:
    """A progress line or a note for people (stderr)."""
    click.echo(message, err=True)


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """A command's result: JSON for scripts, else ``render(data)`` (default: one line per item)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif render is not None:
        render(data)
    else:
        click.echo(data if isinstance(data, str) else "\n".join(f"{k}: {v}" for k, v in dict(data).items()))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def count(v: int | None) -> str:
    return "" if v is None else f"{v:,}"
