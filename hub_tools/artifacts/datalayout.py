"""Which data files form which config and split of a dataset artifact.

Convention (what `hubtool card` writes into the README ``configs:`` block)::

    data/train-00000-of-00002.parquet            -> config "default", split "train"
    data/<config>/<split>-00000-of-00001.parquet -> config <config>, split <split>

A README that already declares ``configs:`` is read instead, and checked against the files.
``datasets`` builds one builder per repo, so all data files must share one format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hub_tools.artifacts.frontmatter import front_matter

DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".json.gz")
_SPLIT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def file_format(path: str) -> str | None:
    low = path.lower()
    if low.endswith(".parquet"):
        return "parquet"
    if low.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
        return "json"
    return None


def glob_to_regex(pattern: str) -> re.Pattern:
    """fsspec-style glob as datasets resolves it: '*' stays inside a folder, '**' crosses folders."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


@dataclass
class LayoutProblem:
    message: str
    file: str | None = None
    line: int | None = None


@dataclass
class DataLayout:
    """config -> split -> data files (paths relative to the artifact folder, sorted)."""

    configs: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    default_config: str | None = None
    declared: bool = False  # read from README `configs:` rather than inferred
    problems: list[LayoutProblem] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({f for splits in self.configs.values() for files in splits.values() for f in files})

    def configs_yaml(self) -> list[dict]:
        """The README ``configs:`` block for this layout (glob per split when the names allow it)."""
        out = []
        for name, splits in self.configs.items():
            data_files = []
            for split, files in splits.items():
                folder = files[0].rsplit("/", 1)[0]
                suffix = next(s for s in sorted(DATA_SUFFIXES, key=len, reverse=True) if files[0].lower().endswith(s))
                pattern = f"{folder}/{split}-*{suffix}"
                rx = glob_to_regex(pattern)
                others = [f for other, fs in splits.items() if other != split for f in fs]
                if all(rx.match(f) for f in files) and not any(rx.match(f) for f in others):
                    data_files.append({"split": split, "path": pattern})
                else:
                    data_files.append({"split": split, "path": files if len(files) > 1 else files[0]})
            entry: dict = {"config_name": name, "data_files": data_files}
            if name == self.default_config and len(self.configs) > 1:
                entry["default"] = True
            out.append(entry)
        return out


NOT_DATA = {"hubtool.json", "dataset_infos.json", "dataset_info.json"}


def list_data_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and file_format(p.name) and not p.name.startswith(".") and p.name not in NOT_DATA)


def discover_layout(folder: str | Path) -> DataLayout:
    folder = Path(folder)
    files = list_data_files(folder)
    readme = folder / "README.md"
    declared = None
    if readme.is_file():
        try:
            meta = front_matter(readme.read_text(encoding="utf-8"))
        except ValueError as err:
            return DataLayout(problems=[LayoutProblem(f"README.md metadata: {err}", "README.md")])
        if meta and meta.get("configs"):
            declared = meta["configs"]
    layout = _from_declared(declared, files) if declared is not None else _inferred(files)
    formats = {file_format(f) for f in layout.files}
    if len(formats) > 1:
        layout.problems.append(LayoutProblem(
            "data files mix parquet and json: datasets reads a repo with one builder, so one format would be "
            "parsed as the other; convert all files to one format"))
    return layout


def _inferred(files: list[str]) -> DataLayout:
    layout = DataLayout()
    for f in files:
        parts = f.split("/")
        if parts[0] != "data" or len(parts) not in (2, 3):
            layout.problems.append(LayoutProblem(
                "data file outside the layout data/<split>-*.<ext> or data/<config>/<split>-*.<ext>", f))
            continue
        config = "default" if len(parts) == 2 else parts[1]
        split = re.split(r"[-.]", parts[-1], maxsplit=1)[0]
        if not _SPLIT_RE.match(split):
            layout.problems.append(LayoutProblem(f"cannot read a split name from {parts[-1]!r}", f))
            continue
        layout.configs.setdefault(config, {}).setdefault(split, []).append(f)
    if "default" in layout.configs and len(layout.configs) > 1:
        layout.problems.append(LayoutProblem("files directly under data/ and in data/<config>/ at once: put the "
                                             "default config in its own folder too", "data/"))
    layout.default_config = "default" if "default" in layout.configs else next(iter(layout.configs), None)
    return layout


def _from_declared(declared: object, files: list[str]) -> DataLayout:
    layout = DataLayout(declared=True)
    if not isinstance(declared, list):
        layout.problems.append(LayoutProblem("README `configs:` must be a list", "README.md"))
        return layout
    covered: set[str] = set()
    for i, cfg in enumerate(declared):
        name = cfg.get("config_name") if isinstance(cfg, dict) else None
        if not isinstance(name, str):
            layout.problems.append(LayoutProblem(f"configs[{i}] needs a config_name", "README.md"))
            continue
        if cfg.get("default"):
            layout.default_config = name
        data_files = cfg.get("data_files")
        if isinstance(data_files, (str, list)) and not (isinstance(data_files, list) and data_files
                                                        and isinstance(data_files[0], dict)):
            data_files = [{"split": "train", "path": data_files}]
        if not isinstance(data_files, list) or not data_files:
            layout.problems.append(LayoutProblem(f"config {name!r} declares no data_files", "README.md"))
            continue
        for entry in data_files:
            split, paths = entry.get("split", "train"), entry.get("path")
            paths = [paths] if isinstance(paths, str) else paths
            if not isinstance(paths, list) or not paths:
                layout.problems.append(LayoutProblem(f"config {name!r} split {split!r} has no path", "README.md"))
                continue
            matched: list[str] = []
            for pattern in paths:
                rx = glob_to_regex(str(pattern))
                hits = [f for f in files if rx.match(f)]
                if not hits:
                    layout.problems.append(LayoutProblem(
                        f"config {name!r} split {split!r}: pattern {pattern!r} matches no data file", "README.md"))
                matched.extend(hits)
            if matched:
                layout.configs.setdefault(name, {})[split] = sorted(set(matched))
                covered.update(matched)
    for f in files:
        if f not in covered:
            layout.problems.append(LayoutProblem("data file not covered by any config in README `configs:`", f))
    if layout.default_config is None and layout.configs:
        layout.default_config = "default" if "default" in layout.configs else next(iter(layout.configs))
    return layout
