"""What an artifact folder is, read from its files alone (for folders made by other tools, with no
hubtool.json): an adapter (adapter_config.json), a model (config.json + weights), a Space (a README with
an ``sdk:`` header, or app.py) or a dataset whose kind the columns of its first data file tell."""
from __future__ import annotations

import json
from pathlib import Path

from hub_tools.artifacts.datalayout import DATA_SUFFIXES, file_format
from hub_tools.artifacts.frontmatter import front_matter

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def data_files(folder: Path) -> list[Path]:
    """Data files under data/ (else at the top level), sorted."""
    under = folder / "data"
    root = under if under.is_dir() else folder
    pattern = "**/*" if root == under else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))


def first_columns(path: Path) -> set[str]:
    """Column names of a data file (parquet schema, or the keys of its first JSON row)."""
    if file_format(path.name) == "parquet":
        import pyarrow.parquet as pq

        return set(pq.ParquetFile(path).schema_arrow.names)
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    return set()
                return set(row) if isinstance(row, dict) else set()
    return set()


def dataset_kind(columns: set[str]) -> str | None:
    if {"messages"} <= columns or {"conversations"} <= columns:
        return "instructions"
    if {"chosen", "rejected"} <= columns or {"model_a", "model_b", "winner"} <= columns:
        return "preferences"
    if "text" in columns:
        return "corpus"
    return None


def infer_kind(folder: str | Path) -> tuple[str | None, str]:
    """(kind or None, the reason in words)."""
    folder = Path(folder)
    if (folder / "adapter_config.json").is_file():
        return "adapter", "adapter_config.json"
    weights = [p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)] \
        if folder.is_dir() else []
    if (folder / "config.json").is_file() and weights:
        return "model", f"config.json and {weights[0]}"
    readme = folder / "README.md"
    if readme.is_file():
        try:
            meta = front_matter(readme.read_text(encoding="utf-8", errors="replace")) or {}
        except ValueError:
            meta = {}
        if meta.get("sdk"):
            return "space", "README.md declares an sdk"
    if (folder / "app.py").is_file():
        return "space", "app.py"
    files = data_files(folder)
    if files:
        kind = dataset_kind(first_columns(files[0]))
        if kind:
            return kind, f"columns of {files[0].relative_to(folder).as_posix()}"
        return None, f"the columns of {files[0].relative_to(folder).as_posix()} match no kind"
    return None, "no adapter_config.json, config.json + weights, Space README or data files"
