"""Findings of `hubtool validate`: a stable code, a severity, where (file, row, field) and how to fix."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# code -> (severity, title, fix hint). Codes are stable: scripts and CI filter on them.
CODES: dict[str, tuple[str, str, str]] = {
    "HT001": ("error", "provenance missing or invalid", "write hubtool.json with hub_tools.artifacts.provenance.write_provenance"),
    "HT002": ("error", "provenance kind differs from the manifest", "fix `kind` in the manifest or hubtool.json"),
    "HT003": ("error", "artifact path missing", "build the artifact first, or fix `path` (relative to the manifest)"),
    "HT004": ("error", "local path or user name in published metadata",
              "record Hub ids or paths relative to the artifact, never where it sat on the build machine"),
    "HT005": ("warning", "local path or user name in the folder's README.md",
              "hubtool release replaces README.md with a rendered card; delete it or fix it before other tools push"),
    "HT101": ("error", "data file unreadable", "re-export the file as parquet or UTF-8 jsonl (optionally .gz)"),
    "HT102": ("error", "required column missing", "add the columns the artifact kind needs (see docs/validation.md)"),
    "HT103": ("error", "row does not match the kind's schema", "fix the row; see the expected shape in docs/validation.md"),
    "HT104": ("error", "features differ across shards of one config", "write every shard with the same columns and types"),
    "HT105": ("error", "empty or whitespace-only text", "drop the row or fill it"),
    "HT106": ("warning", "exact duplicate row", "deduplicate (the corpus recipe does it)"),
    "HT107": ("error", "evaluation rows leak into train", "remove test/validation rows from train"),
    "HT108": ("error", "too few rows in the declared language", "filter by language, or declare the languages present"),
    "HT109": ("error", "invalid UTF-8 or control characters", "re-decode the source as UTF-8 and strip control characters"),
    "HT110": ("error", "secret in the data", "remove the token or key from the data and revoke it"),
    "HT111": ("warning", "e-mail address (PII) in the data", "scrub PII (the corpus recipe does it)"),
    "HT112": ("error", "config/split layout load_dataset would not resolve", "fix README `configs:` or the data/ layout"),
    "HT113": ("error", "no data files", "put parquet or jsonl shards under data/"),
    "HT201": ("error", "pickle weights", "publish safetensors only (save_pretrained(safe_serialization=True))"),
    "HT202": ("error", "model config missing", "save config.json (or adapter_config.json for adapters)"),
    "HT203": ("error", "tokenizer missing", "save the tokenizer with the model (tokenizer.save_pretrained)"),
    "HT204": ("error", "chat template missing", "set tokenizer.chat_template before saving, or declare chat: false"),
    "HT205": ("error", "adapter base model is not a Hub repo id", "set base_model_name_or_path to org/name"),
    "HT206": ("error", "adapter target modules absent from the base model", "target modules the base architecture has"),
    "HT207": ("error", "weights do not match the architecture", "re-save the weights from the matching model"),
    "HT208": ("error", "model does not load or generate", "load it locally with transformers/peft and fix the error"),
    "HT209": ("warning", "base model not available for checks", "set base_model_path, or publish the base first"),
    "HT301": ("error", "Space app file missing", "add app.py (or the README's app_file)"),
    "HT302": ("error", "Space requirements not pinned", "pin every requirement with =="),
    "HT303": ("error", "Space README metadata invalid", "set title, sdk (gradio|docker|static|streamlit) and app_file"),
    "HT401": ("error", "manifest invalid", "fix the field at the given line"),
    "HT402": ("error", "invalid repo id", "use org/name with letters, digits, '-', '_', '.'"),
    "HT403": ("error", "two artifacts publish to the same repo and branch", "give each its own repo or branch"),
    "HT404": ("error", "licence or languages missing", "set license and languages in the manifest"),
    "HT405": ("error", "card metadata invalid", "fix the card fields (licence id, language codes)"),
    "HT601": ("warning", "evaluation items overlap training data", "drop the items from the training data, or "
              "report the overlap with the scores (docs/overlap.md)"),
    "HT602": ("error", "too many evaluation items overlap training data", "decontaminate the training data, or raise "
              "validation.overlap.max_fraction if the overlap is known and reported"),
}


@dataclass
class Finding:
    code: str
    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    line: int | None = None
    artifact: str | None = None
    severity: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        severity, _, hint = CODES[self.code]
        self.severity = self.severity or severity
        self.hint = self.hint or hint

    @property
    def location(self) -> str:
        parts = [self.file or ""]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(self.field)
        return ":".join(p for p in parts if p) or "-"

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None} | {"location": self.location}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    statistics: dict[str, dict] = field(default_factory=dict)  # per artifact, reused by cards

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def errors(self, strict: bool = False) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error" or (strict and f.severity == "warning")]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors(strict)


class Limiter:
    """Caps findings per (code, file): beyond ``limit``, one summary finding says how many more."""

    def __init__(self, limit: int):
        self.limit = limit
        self.counts: dict[tuple[str, str | None], int] = {}

    def allow(self, code: str, file: str | None) -> bool:
        key = (code, file)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] <= self.limit

    def summaries(self, artifact: str | None) -> list[Finding]:
        return [Finding(code, f"... and {n - self.limit} more of {code} in this file", file=file, artifact=artifact)
                for (code, file), n in self.counts.items() if n > self.limit]
