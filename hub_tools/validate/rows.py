"""Row-level primitives of dataset validation: reading rows with their locations, the columns each kind
needs, the text of a row, and the exact per-text checks (control characters, secrets, e-mails). Shared by
the vectorised file scan (filescan.py) and the dataset checks (dataset_checks.py), below both."""
from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub_tools.artifacts.datalayout import file_format
from hub_tools.text.pii import EMAIL

EVAL_SPLITS = ("test", "validation", "valid", "dev", "eval")
ROLES = ("system", "user", "assistant")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SECRET_PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "OpenAI key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
}
# Substrings every match of the pattern contains: a cheap test that skips the regex on ~all rows.
SECRET_NEEDLES = {"Hugging Face token": ("hf_",), "OpenAI key": ("sk-",), "AWS access key": ("AKIA", "ASIA"),
                  "private key": ("PRIVATE KEY",)}
# Unicode category Cc except tab, newline and carriage return, plus U+FFFD (a decoding error upstream).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


@dataclass
class RowRef:
    file: str
    row: int | None = None   # 0-based row (parquet)
    line: int | None = None  # 1-based line (jsonl)


def iter_rows(folder: Path, rel: str, columns: list[str] | None = None,
              batch_size: int = 1000) -> Iterator[tuple[RowRef, dict | None, str | None]]:
    """(where, row, problem): problem is a message for unreadable rows (row is None then)."""
    path = folder / rel
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        cols = [c for c in columns if c in names] if columns else None
        index = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            for row in batch.to_pylist():
                yield RowRef(rel, row=index), row, None
                index += 1
        return
    opener = gzip.open if rel.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RowRef(rel, line=lineno), None, f"HT109:invalid UTF-8 at byte {err.start}"
                continue
            try:
                row = json.loads(text)
            except ValueError as err:
                yield RowRef(rel, line=lineno), None, f"HT101:not valid JSON ({err.msg})"
                continue
            if not isinstance(row, dict):
                yield RowRef(rel, line=lineno), None, "HT101:a JSON line must be an object"
                continue
            yield RowRef(rel, line=lineno), row, None


def features_of(folder: Path, rel: str) -> str:
    """A comparable description of a shard's features."""
    if file_format(rel) == "parquet":
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(folder / rel).schema_arrow
        return ", ".join(f"{f.name}: {f.type}" for f in schema)
    kinds: dict[str, set[str]] = {}
    for n, (_, row, _) in enumerate(iter_rows(folder, rel)):
        if row is not None:
            for k, v in row.items():
                kinds.setdefault(k, set()).add(type(v).__name__ if v is not None else "null")
        if n >= 100:
            break
    return ", ".join(f"{k}: {'|'.join(sorted(t - {'null'}) or ['null'])}" for k, t in sorted(kinds.items()))


def _messages_problem(value: Any, name: str) -> str | None:
    if not isinstance(value, list) or not value:
        return f"'{name}' must be a non-empty list of {{role, content}}"
    roles = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            return f"{name}[{i}] must be {{role: system|user|assistant, content: string}}"
        if m["role"] == "system" and i != 0:
            return f"{name}[{i}]: a system turn may only come first"
        roles.append(m["role"])
    if "user" not in roles:
        return f"'{name}' has no user turn"
    if roles[-1] != "assistant":
        return f"'{name}' must end with an assistant turn (it ends with {roles[-1]})"
    return None


def _content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(m.get("content", "") for m in value if isinstance(m, dict) and isinstance(m.get("content"), str))
    return ""


def required_columns(kind: str, columns: set[str]) -> list[str]:
    """Missing columns for ``kind``; an empty list means the schema is there."""
    if kind == "corpus":
        return [c for c in ("text",) if c not in columns]
    if kind == "instructions":
        return [] if "messages" in columns else ["messages"]
    if kind == "preferences":
        trl = ("prompt", "chosen", "rejected")
        layouts = (trl, ("model_a", "model_b", "winner"), ("prompt", "completion", "label"))
        if any(all(c in columns for c in layout) for layout in layouts):
            return []
        return [c for c in trl if c not in columns] + ["(or model_a, model_b, winner; or prompt, completion, label)"]
    return [] if columns else ["(any column)"]


def row_text(kind: str, row: dict) -> tuple[str, str | None, str | None]:
    """(text to check, schema problem, field) for one row of ``kind``."""
    if kind == "corpus":
        text = row.get("text")
        if not isinstance(text, str):
            return "", "'text' must be a string", "text"
        return text, None, "text"
    if kind == "instructions":
        problem = _messages_problem(row.get("messages"), "messages")
        return _content(row.get("messages")), problem, "messages"
    if kind == "preferences":
        if "winner" in row and row["winner"] not in WINNERS:
            return "", f"winner {row['winner']!r} is not one of {', '.join(WINNERS)}", "winner"
        if "label" in row and not isinstance(row["label"], bool):
            return "", f"'label' must be true or false, not {row['label']!r}", "label"
        parts = [_content(row.get(k)) for k in ("prompt", "chosen", "rejected", "completion", "conv_a", "conv_b")
                 if k in row]
        for k in ("chosen", "rejected", "completion"):
            if k in row and not isinstance(row[k], (str, list)):
                return "", f"'{k}' must be a string or a list of messages", k
        return "\n".join(parts), None, None
    return "\n".join(str(v) for v in row.values() if isinstance(v, str)), None, None


def check_text(text: str) -> list[tuple[str, str]]:
    """The exact checks of one non-empty text: (code, message) for control characters, secrets, e-mails."""
    out = []
    m = CONTROL.search(text)
    if m:
        bad = m.group()
        what = "U+FFFD (a decoding error upstream)" if bad == "\ufffd" else f"control character U+{ord(bad):04X}"
        out.append(("HT109", f"{what} at offset {m.start()}"))
    for name, rx in SECRET_PATTERNS.items():
        m = rx.search(text) if any(n in text for n in SECRET_NEEDLES[name]) else None
        if m:
            out.append(("HT110", f"{name} at offset {m.start()} ({m.group()[:6]}…)"))
    m = EMAIL.search(text) if "@" in text else None
    if m:
        out.append(("HT111", f"e-mail address at offset {m.start()}"))
    return out


