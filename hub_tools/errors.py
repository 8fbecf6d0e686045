"""One base for hubtool's errors, so the command line turns every one of them into the same advice.

An error carries what went wrong (its message), where (a file, row or field, when known) and how to fix it.
Library code raises; only ``hub_tools.cli`` formats (STYLE.md: errors carry fields, one formatter at the
entry point). Subclasses keep their historical built-in bases (``ValueError``, ``RuntimeError``) so callers
that catch those keep working.
"""
from __future__ import annotations


class HubtoolError(Exception):
    """An error a user can act on. ``exit_code`` is what the CLI exits with (1: invalid input or a failed
    check; 2: a usage or configuration error)."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.fix = fix

    def __str__(self) -> str:
        return self.message


class UsageProblem(HubtoolError):
    """Bad options or a bad config file: nothing ran."""

    exit_code = 2


def format_error(err: HubtoolError) -> str:
    """The text the CLI prints: the message, then where and how to fix it when known."""
    lines = [err.message]
    if err.where:
        lines.append(f"  where: {err.where}")
    if err.fix:
        lines.append(f"  fix: {err.fix}")
    return "\n".join(lines)
