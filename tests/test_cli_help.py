"""Every `hubtool` command and group shows an example of itself in `--help`, and every example in any
`--help` names commands and options that exist (walks the click tree from hub_tools.cli.main, so a new
command without an example, or a renamed option left in an example, fails here)."""
from __future__ import annotations

import re
import shlex

import click
import pytest
from click.testing import CliRunner

from hub_tools.cli import main


def walk(cmd: click.Command, path: tuple[str, ...] = ()):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from walk(sub, path + (name,))


COMMANDS = list(walk(main))


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[str]:
    """The `hubtool ...` commands under the help's "Example(s):" header (the lines indented below it):
    comments cut, continued lines joined, `a && b` and `a & b` split."""
    block: list[str] = []
    header: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if header is None:
            if line.strip() in ("Example:", "Examples:"):
                header = indent
            continue
        if not line.strip() or indent <= header:
            break
        block.append(line)
    out = []
    for line in re.sub(r"\s*\\\n\s*", " ", "\n".join(block)).splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"\s*(?:&&|;|\|\|?|&)\s*", line):
            if part.startswith("hubtool "):
                out.append(part)
    return out


def resolve(example: str) -> tuple[str, ...]:
    """The command path an example invokes; asserts its options exist and it has no surplus arguments."""
    tokens = shlex.split(example)[1:]
    cmd, path = main, ()
    while isinstance(cmd, click.Group):
        while tokens and tokens[0].startswith("-"):
            _check_option(cmd, tokens, example)
        if not tokens:
            return path
        name = tokens.pop(0)
        assert name in cmd.commands, f"{example!r}: no command {name!r} in `hubtool {' '.join(path)}`"
        cmd, path = cmd.commands[name], path + (name,)
    capacity = sum(p.nargs if p.nargs > 0 else 10**6 for p in cmd.params if isinstance(p, click.Argument))
    positional = 0
    while tokens:
        if tokens[0].startswith("-") and len(tokens[0]) > 1:
            _check_option(cmd, tokens, example)
        else:
            tokens.pop(0)
            positional += 1
    assert positional <= capacity, f"{example!r}: {positional} arguments, `{' '.join(path)}` takes {capacity}"
    return path


def _check_option(cmd: click.Command, tokens: list[str], example: str) -> None:
    token = tokens.pop(0)
    name = token.split("=", 1)[0]
    ctx = click.Context(cmd)
    options = {n: p for p in cmd.get_params(ctx) if isinstance(p, click.Option) for n in p.opts + p.secondary_opts}
    assert name in options, f"{example!r}: `{cmd.name}` has no option {name}"
    option = options[name]
    if not (option.is_flag or option.count) and "=" not in token:
        assert len(tokens) >= option.nargs, f"{example!r}: {name} needs {option.nargs} value(s)"
        del tokens[:option.nargs]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "hubtool")
def test_every_command_has_an_example_of_itself_in_its_help(path):
    shown = examples(help_text(path))
    assert shown, f"`hubtool {' '.join(path)} --help` has no Examples section with a hubtool command"
    invoked = [resolve(example) for example in shown]  # every example names real commands and options
    assert any(p[:len(path)] == path for p in invoked), \
        f"`hubtool {' '.join(path)} --help`: no example runs it ({shown})"


def test_the_walk_reaches_every_command():
    """The walk is the click tree itself: the groups' subcommands, hidden ones included."""
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"hub status", "hub stop", "recipe synth", "space loadtest", "validate", "quickstart"} <= names
    assert len(names) == 1 + sum(len(c.commands) for _, c in COMMANDS if isinstance(c, click.Group))


def test_the_example_check_refuses_drifted_examples():
    """The checker itself: an unknown option, an unknown command and a surplus argument are caught."""
    assert resolve("hubtool hub status --json") == ("hub", "status")
    assert resolve("hubtool -v recipe synth --config=x.yaml --resume") == ("recipe", "synth")
    for drifted in ("hubtool hub status --jsn", "hubtool hub statu", "hubtool hub stop extra-arg"):
        with pytest.raises(AssertionError):
            resolve(drifted)
    assert examples("Examples:\n  hubtool a && hubtool b  # c\n  hubtool d \\\n    --e f\nhubtool g") == [
        "hubtool a", "hubtool b", "hubtool d --e f"]
