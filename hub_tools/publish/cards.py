"""`hubtool card`: README.md cards rendered from the artifact itself.

The YAML header comes from huggingface_hub's card-data classes (DatasetCardData, ModelCardData with
``model-index``, SpaceCardData); the body from the Jinja templates in ``cards/`` (or a per-artifact
override). Every figure comes from the data scan or from hubtool.json, never from a person.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData, SpaceCard, SpaceCardData

from hub_tools.artifacts.provenance import DATASET_KINDS, Provenance, read_provenance
from hub_tools.artifacts.datalayout import DataLayout, discover_layout, file_format

TASK_CATEGORIES = {"corpus": ["text-generation"], "instructions": ["text-generation", "question-answering"],
                   "preferences": ["text-generation"], "eval": ["text-generation"]}
KIND_TAGS = {"corpus": ["corpus"], "instructions": ["instruction-tuning", "synthetic"],
             "preferences": ["human-feedback", "preference", "dpo"], "eval": ["evaluation"]}
LICENSE_TEXT = {
    "apache-2.0": "Apache License 2.0.", "mit": "MIT License.", "cc0-1.0": "CC0 1.0: dedicated to the public domain.",
    "cc-by-4.0": "Creative Commons Attribution 4.0.", "cc-by-sa-4.0": "Creative Commons Attribution-ShareAlike 4.0.",
    "llama3.1": "Llama 3.1 Community License.",
}


@dataclass
class CardContext:
    """Where and how the artifact is published: what the card says about it besides its data."""

    name: str
    kind: str
    repo_id: str
    license: str
    languages: list[str]
    revision: str | None = None
    version: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # manifest `card:` over hubtool.json `card`
    eval_results: Path | None = None
    template: Path | None = None
    base_model: str | None = None
    # evaluation results of the release's models by repo id (a base model's are drawn next to this one's)
    release_eval_results: dict[str, Path] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)  # computed at release: "changes" (hub_tools.publish.diff)


@dataclass
class CardFiles:
    """A rendered card: README.md's text and the pictures it links (path in the repo -> PNG bytes)."""

    text: str
    files: dict[str, bytes] = field(default_factory=dict)


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")):
        if n < limit:
            return label
    return "n>1T" if n >= 10**12 else "1B<n<10B" if n < 10**10 else "10B<n<100B" if n < 10**11 else "100B<n<1T"


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def dataset_info_yaml(folder: Path, layout: DataLayout, stats: dict) -> list[dict]:
    """``dataset_info`` metadata: features (datasets' YAML form) and exact split sizes per config."""
    import datasets
    import pyarrow as pa

    out = []
    for config, splits in layout.configs.items():
        first = folder / next(iter(splits.values()))[0]
        if file_format(first.name) == "parquet":
            import pyarrow.parquet as pq

            schema = pq.ParquetFile(first).schema_arrow
        else:
            from hub_tools.validate.dataset_checks import iter_rows

            rows = []
            for _, row, _ in iter_rows(folder, first.relative_to(folder).as_posix()):
                if row is not None:
                    rows.append(row)
                if len(rows) >= 1000:
                    break
            schema = pa.Table.from_pylist(rows).schema
        features = datasets.Features.from_arrow_schema(schema)
        split_stats = stats["configs"][config]["splits"]
        entry = {"config_name": config, "features": features._to_yaml_list(),
                 "splits": [{"name": split, "num_bytes": sum((folder / f).stat().st_size for f in files),
                             "num_examples": split_stats[split]["rows"]} for split, files in splits.items()]}
        entry["download_size"] = sum(s["num_bytes"] for s in entry["splits"])
        out.append(entry)
    return out


def load_eval_results(path: Path) -> list[EvalResult]:
    """Evaluation results written by recipes/evaluate (or by hand) in hubtool's JSON form."""
    data = json.loads(Path(path).read_text())
    source = data.get("source") or {}
    source = source if source.get("name") and source.get("url") else {}  # the Hub spec needs both or neither
    out = []
    for r in data.get("results", []):
        for m in r.get("metrics", []):
            out.append(EvalResult(
                task_type=r["task"]["type"], task_name=r["task"].get("name"),
                dataset_type=r["dataset"]["type"], dataset_name=r["dataset"].get("name", r["dataset"]["type"]),
                dataset_split=r["dataset"].get("split"), dataset_config=r["dataset"].get("config"),
                dataset_revision=r["dataset"].get("revision"),
                dataset_args=r["dataset"].get("args"), metric_type=m["type"], metric_value=m["value"],
                metric_name=m.get("name"), metric_args={k: v for k, v in (m.get("args") or {}).items() if v is not None}
                or None, source_name=source.get("name"), source_url=source.get("url")))
    return out


def _environment(ctx: CardContext):
    import jinja2

    builtin = Path(str(resources.files("cards")))
    paths = [str(ctx.template.parent)] if ctx.template else []
    return jinja2.Environment(loader=jinja2.FileSystemLoader(paths + [str(builtin)]), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def _common(ctx: CardContext, prov: Provenance) -> dict[str, Any]:
    fields = ctx.fields
    license_id = fields.get("license", ctx.license)
    return {
        "title": fields.get("pretty_name") or fields.get("title") or ctx.repo_id.split("/")[-1],
        "description": fields.get("description", ""), "kind": ctx.kind, "repo_id": ctx.repo_id,
        "revision": ctx.revision if ctx.revision and ctx.revision != "main" else (ctx.version or None),
        "version": ctx.version, "languages": ctx.languages, "prov": prov.model_dump(),
        "config_yaml": yaml.safe_dump(prov.config, sort_keys=False, allow_unicode=True) if prov.config else "",
        "license_text": fields.get("license_text") or LICENSE_TEXT.get(license_id, f"`{license_id}`"),
        "citation": fields.get("citation"), "lineage": [s.model_dump() for s in prov.lineage],
        "source_datasets": [s.model_dump() for s in prov.source_datasets],
        "sections": ctx.sections, "pictures": [],
    }


_STANDARD_DATASET = {"pretty_name", "license", "task_categories", "tags", "size_categories", "language",
                     "annotations_creators", "language_creators", "multilinguality", "task_ids", "paperswithcode_id"}
_NOT_METADATA = {"description", "citation", "license_text", "title"}


def render_card(folder: str | Path, ctx: CardContext, stats: dict | None = None) -> str:
    """The README.md text for the artifact in ``folder``."""
    return render_card_files(folder, ctx, stats).text


def render_card_files(folder: str | Path, ctx: CardContext, stats: dict | None = None) -> CardFiles:
    """The README.md text and the pictures it links, drawn from the artifact's data."""
    from hub_tools.publish import pictures

    folder = Path(folder)
    prov = read_provenance(folder)
    fields = {**prov.card, **ctx.fields}
    ctx.fields = fields
    env = _environment(ctx)
    common = _common(ctx, prov)
    extra = {k: v for k, v in fields.items() if k not in _NOT_METADATA}
    if ctx.kind in DATASET_KINDS:
        from hub_tools.validate.dataset_checks import check_dataset
        from hub_tools.artifacts.manifest import ValidationSettings

        layout = discover_layout(folder)
        if stats is None:
            _, stats = check_dataset(folder, ctx.kind, ctx.languages, ValidationSettings(), layout=layout)
        data = DatasetCardData(
            language=ctx.languages, license=fields.get("license", ctx.license),
            pretty_name=common["title"], task_categories=fields.get("task_categories", TASK_CATEGORIES[ctx.kind]),
            tags=sorted(set(fields.get("tags", [])) | set(KIND_TAGS[ctx.kind])),
            size_categories=[size_category(stats["rows_total"])],
            source_datasets=[s.id for s in prov.source_datasets] or None,
            configs=layout.configs_yaml(), dataset_info=dataset_info_yaml(folder, layout, stats),
            **{k: v for k, v in extra.items() if k not in _STANDARD_DATASET | {"source_datasets"}},
        )
        common["pictures"] = pictures.dataset_pictures(folder, ctx.kind, stats, prov.statistics)
        body = env.get_template(ctx.template.name if ctx.template else "dataset.md.j2").render(
            card_data=data.to_yaml(), stats=stats, size_human=_human(stats["bytes_total"]), **common)
        return CardFiles(str(DatasetCard(body)), {p.path: p.png for p in common["pictures"]})
    if ctx.kind in ("model", "adapter"):
        from hub_tools.validate.model_checks import model_stats

        if stats is None:
            stats, _ = model_stats(folder, ctx.kind)
        base = ctx.base_model or stats.get("base_model") or fields.get("base_model")
        evals = load_eval_results(ctx.eval_results) if ctx.eval_results else None
        relation = fields.get("base_model_relation") or ("adapter" if ctx.kind == "adapter" else
                                                         "finetune" if base else None)
        data = ModelCardData(
            language=ctx.languages, license=fields.get("license", ctx.license), base_model=base,
            library_name="peft" if ctx.kind == "adapter" else "transformers", pipeline_tag="text-generation",
            datasets=fields.get("datasets"), tags=sorted(set(fields.get("tags", [])) | {"hubtool"}),
            model_name=ctx.repo_id if evals else None, eval_results=evals,
            **({"base_model_relation": relation} if relation and base else {}),
            **{k: v for k, v in extra.items() if k not in {"license", "datasets", "tags", "base_model",
                                                             "base_model_relation", "pretty_name"}},
        )
        base_results = ctx.release_eval_results.get(base) if base else None
        common["pictures"] = pictures.model_pictures(folder, evals, load_eval_results(base_results) if base_results
                                                     else None, base)
        body = env.get_template(ctx.template.name if ctx.template else "model.md.j2").render(
            card_data=data.to_yaml(), stats=stats, base_model=base, datasets=fields.get("datasets") or [],
            eval_results=evals or [], **common)
        return CardFiles(str(ModelCard(body)), {p.path: p.png for p in common["pictures"]})
    from hub_tools.validate.space_checks import space_metadata

    meta = space_metadata(common["title"], {k: v for k, v in fields.items() if k not in _NOT_METADATA})
    data = SpaceCardData(license=fields.get("license", ctx.license), **{k: v for k, v in meta.items() if k != "license"})
    body = env.get_template(ctx.template.name if ctx.template else "space.md.j2").render(
        card_data=data.to_yaml(), models=meta.get("models", []), app_file=meta["app_file"], **common)
    return CardFiles(str(SpaceCard(body)))


def write_card(folder: str | Path, ctx: CardContext, out: str | Path | None = None, stats: dict | None = None) -> Path:
    """README.md (and its pictures, replacing the previous ones) into ``out`` or the artifact folder."""
    import shutil

    from hub_tools.publish.pictures import PICTURES_DIR

    card = render_card_files(folder, ctx, stats)
    target = Path(out) / "README.md" if out else Path(folder) / "README.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(card.text, encoding="utf-8")
    shutil.rmtree(target.parent / PICTURES_DIR, ignore_errors=True)
    for rel, data in card.files.items():
        (target.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        (target.parent / rel).write_bytes(data)
    return target


def context_for(manifest, art) -> CardContext:
    """The card context of a manifest artifact."""
    return CardContext(
        name=art.name, kind=art.kind, repo_id=manifest.repo_id(art), license=manifest.license,
        languages=manifest.languages, revision=art.branch, version=manifest.version, fields=dict(art.card),
        eval_results=(manifest.base_dir / art.eval_results) if art.eval_results else None,
        template=(manifest.base_dir / art.template) if art.template else None,
        release_eval_results={manifest.repo_id(a): manifest.base_dir / a.eval_results for a in manifest.artifacts
                              if a.kind in ("model", "adapter") and a.eval_results and a.branch == "main"})
