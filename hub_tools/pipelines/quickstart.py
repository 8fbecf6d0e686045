"""The quickstart: the bundled quickstart project (recipes/quickstart/release.yaml, its tiny configs and the
raw sample) copied into a workdir, built by its recipes, released to a Hub (the local staging hub by
default) and read back.

Nothing in it is hand-made: the corpus comes from the corpus recipe on noisy raw text, the toy base from
the tiny-base recipe on that corpus, the instruction sets from the synth recipe through the OpenAI-compatible
server, the adapters from the train recipe, the scores from the evaluate recipe, the votes from scripted
voters in the demo Space, the preference data from the preferences recipe.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hub_tools.artifacts.manifest import REPO_TYPE_OF_KIND, load_manifest
from hub_tools.pipelines.build import run_build

# bundled raw input copied into <workdir>/raw: (package, file)
RAW_FILES = [("recipes", "corpus/sample/eu_wiki.jsonl.gz"), ("recipes", "corpus/sample/eu_news.txt"),
             ("recipes", "corpus/sample/forum_mixed.jsonl"), ("recipes", "corpus/sample/eu_books.parquet"),
             ("recipes", "corpus/sample/LICENSE.txt"), ("recipes", "train/sample/instructions_eu.jsonl")]


def project_template() -> Path:
    return Path(str(resources.files("recipes").joinpath("quickstart")))


def prepare_project(workdir: Path) -> Path:
    """Copy the quickstart project into ``workdir`` (files already there are kept: edit them freely);
    returns the manifest's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    template = project_template()
    for src in sorted(template.rglob("*")):
        dst = workdir / src.relative_to(template)
        if src.is_file() and not dst.exists() and "__pycache__" not in src.parts:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    for package, rel in RAW_FILES:
        dst = workdir / "raw" / Path(rel).name
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(str(resources.files(package).joinpath(rel)), dst)
    return workdir / "release.yaml"


def artifact_rows(folder: Path) -> dict[str, int] | None:
    """Rows per split of a dataset artifact folder (parquet metadata), summed over its configs."""
    import pyarrow.parquet as pq

    from hub_tools.artifacts.datalayout import discover_layout

    if not (folder / "data").is_dir():
        return None
    rows: dict[str, int] = {}
    for config, splits in discover_layout(folder).configs.items():
        for split, files in splits.items():
            key = split if config == "default" else f"{config}/{split}"
            rows[key] = sum(pq.ParquetFile(folder / f).metadata.num_rows for f in files if f.endswith(".parquet"))
    return rows


@dataclass
class QuickstartResult:
    workdir: Path
    manifest: Path
    endpoint: str
    build: dict
    release: dict
    seconds: dict[str, float] = field(default_factory=dict)
    artifacts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"workdir": str(self.workdir), "manifest": str(self.manifest), "endpoint": self.endpoint,
                "seconds": self.seconds, "artifacts": self.artifacts, "build": self.build, "release": self.release,
                "verified": self.release.get("verified")}


def run_quickstart(workdir: Path, api, on_step: Callable[[str], None] | None = None) -> QuickstartResult:
    """Build the quickstart project in ``workdir`` and release it through ``api`` (an HfApi)."""
    from hub_tools.publish.release import run_release

    step = on_step or (lambda msg: None)
    manifest_path = prepare_project(workdir)
    manifest = load_manifest(manifest_path)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    build = run_build(manifest, on_step=step)
    for s in build.stages:
        if s.status == "built":  # skipped stages are listed in the build table, with no time
            seconds[f"build {s.name}"] = s.seconds
    seconds["build (total)"] = round(time.perf_counter() - start, 2)
    t0 = time.perf_counter()
    release = run_release(manifest, api, on_step=step).to_dict()
    seconds["release + verify"] = round(time.perf_counter() - t0, 2)
    arts = []
    for outcome in release["artifacts"]:
        spec = manifest.artifact(outcome["name"])
        rows = artifact_rows(manifest.artifact_path(spec)) if spec and REPO_TYPE_OF_KIND[spec.kind] == "dataset" else None
        arts.append({"name": outcome["name"], "repo_id": outcome["repo_id"], "repo_type": outcome["repo_type"],
                     "branch": outcome["branch"], "tag": outcome["tag"], "revision": outcome["head"],
                     "commit": outcome["commit"], "rows": rows, "url": outcome["url"]})
    return QuickstartResult(workdir, manifest_path, api.endpoint, build.to_dict(), release, seconds, arts)
