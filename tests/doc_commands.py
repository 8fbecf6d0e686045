"""The shell commands of README.md and docs/*.md, collected the way tests/test_docs_commands.py checks them
(the convention is written down in docs/doc-commands.md).

- Fenced commands: every line of a ```bash, ```sh or ```shell fence, and every `$ ` line of a ```console
  fence; `\\` continuations joined, `# comments` cut, `a && b` and `a; b` split, a trailing ` &` noted.
  Words after the fence's language are markers: ```bash gpu, ```bash cluster, ```bash hub (huggingface.co)
  say that a command of that fence cannot run on a CPU machine with the local hub.
- The README's command table ("What works today"): the `hubtool ...` spans of its first column, with
  `A \\| B` (either word), `[--opt]` (with and without) and siblings (`deploy --repo ORG/NAME` after
  `hubtool space run`, `start` in `hubtool hub serve / start`) expanded into whole commands.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"bash", "sh", "shell", "console"}
MARKERS = {"gpu": "needs a GPU (vLLM, the GPU training configs)",
           "cluster": "needs a Slurm cluster",
           "hub": "talks to huggingface.co with your account"}
TABLE_SECTION = "## What works today"


@dataclass(frozen=True)
class DocCommand:
    text: str                      # the command as a reader types it (one line)
    where: str                     # README.md:76
    markers: frozenset[str] = frozenset()
    origin: str = "fence"          # "fence" or "table"
    background: bool = False       # written with a trailing ` &`

    @property
    def words(self) -> list[str]:
        return shell_words(self.text)

    @property
    def env(self) -> dict[str, str]:
        """The `NAME=value` assignments in front of the program."""
        out = {}
        for word in self.words:
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", word):
                break
            name, value = word.split("=", 1)
            out[name] = value
        return out

    @property
    def argv(self) -> list[str]:
        """The program and its arguments, without the environment assignments in front."""
        return self.words[len(self.env):]

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""


def _scan(text: str):
    """Yield (index, char, outside) for each character: outside is False within quotes or `$( ... )`."""
    quote, depth = None, 0
    for i, ch in enumerate(text):
        if quote:
            yield i, ch, False
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            yield i, ch, False
            continue
        if ch == "(" and text[i - 1:i] == "$":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            yield i, ch, False
            continue
        yield i, ch, depth == 0


def shell_words(text: str) -> list[str]:
    """The words of a command as the shell splits them, quotes removed; a `$( ... )` stays in its word."""
    words, start = [], None
    for i, ch, outside in _scan(text + " "):
        if outside and ch.isspace():
            if start is not None:
                words.append(text[start:i])
                start = None
        elif start is None:
            start = i
    return [w if "$(" in w else "".join(shlex.split(w)) for w in words]


def cut_comment(line: str) -> str:
    for i, ch, outside in _scan(line):
        if outside and ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def split_commands(line: str) -> list[tuple[str, bool]]:
    """`a && b; c &` -> [(a, False), (b, False), (c, True)]: (command, runs in the background)."""
    parts, start, skip = [], 0, False
    chars = list(_scan(line))
    for n, (i, ch, outside) in enumerate(chars):
        if skip:
            skip = False
            continue
        if not outside:
            continue
        nxt = line[i + 1:i + 2]
        if ch == ";" or (ch in "&|" and nxt == ch):
            parts.append((line[start:i], False))
            start, skip = i + (2 if ch != ";" else 1), ch != ";"
        elif ch == "&" and nxt != "&" and line[i - 1:i] != "&":
            parts.append((line[start:i], True))
            start = i + 1
    parts.append((line[start:], False))
    return [(p.strip(), bg) for p, bg in parts if p.strip()]


def fence_commands(path: Path) -> list[DocCommand]:
    name = path.relative_to(ROOT).as_posix()
    out: list[DocCommand] = []
    lines = path.read_text().splitlines()
    fence: list[str] | None = None  # [language, *markers] while inside a fence
    pending, first = "", 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            if fence is None:
                fence = stripped[3:].split() or [""]
            else:
                fence = None
            continue
        if fence is None or fence[0] not in SHELL_FENCES:
            continue
        if fence[0] == "console" and not pending:
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        if not pending:
            first = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        line, pending = cut_comment(pending + stripped), ""
        for text, background in split_commands(line):
            out.append(DocCommand(text, f"{name}:{first}", frozenset(fence[1:]), "fence", background))
    return out


def table_cells(readme: Path = ROOT / "README.md") -> list[tuple[int, str]]:
    """(line, first cell) of each row of the README's command table."""
    lines = readme.read_text().splitlines()
    start = lines.index(TABLE_SECTION)
    rows = []
    for number, line in enumerate(lines[start + 1:], start + 2):
        if line.startswith("## "):
            break
        if line.startswith("| `"):
            rows.append((number, re.split(r"(?<!\\)\|", line)[1].strip()))
    return rows


def _expand_optional(text: str) -> list[str]:
    """`a [--b c] d` -> ["a d", "a --b c d"] (one optional group per command is all the table uses)."""
    match = re.search(r"\s*\[([^\]]+)\]", text)
    if not match:
        return [text]
    without = (text[:match.start()] + text[match.end():]).strip()
    with_it = (text[:match.start()] + " " + match.group(1) + text[match.end():]).strip()
    return [without, with_it]


def _expand_alternatives(text: str) -> list[str]:
    """`hubtool validate release.yaml \\| FOLDER` -> the command with either word."""
    words = text.split()
    if "\\|" not in words:
        return [text]
    i = words.index("\\|")
    return [" ".join(words[:i] + words[i + 2:]), " ".join(words[:i - 1] + words[i + 1:])]


def table_commands(command_path) -> list[DocCommand]:
    """The commands of the README's table. `command_path(words)` gives how many leading words of a
    `hubtool ...` command name its command (the CLI's tree decides, not a guess from the text)."""
    out = []
    for number, cell in table_cells():
        prefix: list[str] = []
        for span in re.findall(r"`([^`]+)`", cell):
            for part in span.split(" / "):
                words = part.split()
                if words[0] == "hubtool":
                    path_len = command_path(words)
                    prefix = words[:path_len - 1]
                else:  # a sibling of the previous command: same group
                    assert prefix, f"README.md:{number}: `{part}` follows no hubtool command"
                    words = prefix + words
                for text in _expand_optional(" ".join(words)):
                    for one in _expand_alternatives(text):
                        out.append(DocCommand(one, f"README.md:{number}", origin="table"))
    return out


def collect(command_path) -> list[DocCommand]:
    found = []
    for doc in DOCS:
        found += fence_commands(doc)
    return found + table_commands(command_path)


def fences(path: Path) -> list[tuple[int, str, list[str]]]:
    """(opening line, info string, body lines) of every fence of a document."""
    out, current = [], None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            if current is None:
                current = (number, stripped[3:].strip(), [])
            else:
                out.append(current)
                current = None
        elif current is not None:
            current[2].append(raw)
    assert current is None, f"{path.name}:{current[0]}: a fence that never closes"
    return out
