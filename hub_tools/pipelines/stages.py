"""How `hubtool build` runs each recipe: which input slots it has, how the inputs named in the manifest
become fields of the recipe's own config, and the call that runs it.

Every path handed to a recipe is relative to the folder of its config file (the recipe resolves it
there), so the resolved config recorded in hubtool.json never holds a local absolute path, and the same
project built in two folders records the same config.

Long module: it is the table of every recipe's input slots (``RECIPES`` at the end),
one short section per recipe; reading them side by side is how the slots stay consistent.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub_tools.artifacts.manifest import InputRef, Manifest
from hub_tools.errors import UsageProblem


@dataclass
class ResolvedInput:
    """One input of a stage, located: a local folder or file (an upstream output or a path), or a Hub repo."""

    slot: str
    ref: InputRef
    identity: str                   # content identity (local) or repo@revision (Hub)
    path: Path | None = None        # local, absolute
    hub: str | None = None          # a Hub input, or the repo an upstream artifact is released to
    revision: str | None = None     # its revision, or the upstream artifact's release tag
    name: str | None = None         # the upstream artifact or stage
    kind: str | None = None         # the upstream artifact's kind (None for stages, paths and Hub inputs)

    @property
    def extra(self) -> dict[str, Any]:
        return self.ref.extra

    @property
    def hub_ref(self) -> str | None:
        """``repo@revision`` of a released (or to-be-released) input."""
        return f"{self.hub}@{self.revision}" if self.hub and self.revision else self.hub


@dataclass
class Stage:
    """A built output of the manifest: an artifact with `build:`, or an entry of `stages:`."""

    name: str
    build: Any                      # BuildSpec
    output: Path                    # absolute
    loc: tuple                      # where it is in the manifest, for line numbers
    kind: str | None = None         # artifact kind; None for an unpublished stage
    repo_id: str | None = None
    tag: str | None = None

    @property
    def work(self) -> Path:
        return self.output.with_name(self.output.name + ".work")


@dataclass
class StageContext:
    manifest: Manifest
    stage: Stage
    config: dict                    # the config file's content with `set:` merged in
    config_dir: Path                # relative paths of the config resolve here
    inputs: dict[str, list[ResolvedInput]]
    on_step: Callable[[str], None] = field(default=lambda msg: None)
    given: dict[str, str] = field(default_factory=dict)  # relative path handed to the recipe -> input name

    def rel(self, path: Path, input_name: str | None = None) -> str:
        rel = os.path.relpath(path, self.config_dir)
        if input_name:
            self.given[rel] = input_name
        return rel

    def all(self, slot: str) -> list[ResolvedInput]:
        return self.inputs.get(slot, [])

    def one(self, slot: str, required: bool = True) -> ResolvedInput | None:
        found = self.inputs.get(slot, [])
        if len(found) > 1:
            raise UsageProblem(f"{self.stage.name}: input `{slot}` takes one source, got {len(found)}",
                               where=f"artifact {self.stage.name}: build.inputs.{slot}")
        if not found and required:
            raise UsageProblem(f"{self.stage.name}: recipe {self.stage.build.recipe} needs the input `{slot}`",
                               where=f"artifact {self.stage.name}: build.inputs",
                               fix=f"add `{slot}: <artifact name>` (or {{hub: org/name, revision: ...}}) to its inputs")
        return found[0] if found else None

    def local(self, inp: ResolvedInput) -> str:
        """An input as the recipe reads it: a path relative to the config, or a Hub id."""
        if inp.path is not None:
            return self.rel(inp.path, inp.name or inp.ref.path)
        return inp.hub or ""


def _validate(ctx: StageContext, data: dict, model):
    from recipes.config_io import validate_config

    return validate_config(data, model, ctx.config_dir, f"{ctx.stage.name} ({ctx.stage.build.recipe} config)")


# -- corpus -------------------------------------------------------------------------------------------------
def corpus_resolve(ctx: StageContext) -> dict:
    from recipes.corpus.config import CorpusConfig

    cfg = dict(ctx.config)
    if ctx.all("sources"):
        sources = []
        for inp in ctx.all("sources"):
            entry = {k: v for k, v in inp.extra.items()}
            entry.setdefault("name", inp.name or Path(inp.ref.path or inp.hub or "source").name.split(".")[0])
            if inp.path is not None:
                entry["path"] = ctx.local(inp)
            else:
                entry.update(hub=inp.hub, revision=inp.revision)
            sources.append(entry)
        cfg["sources"] = sources
    cfg["output"], cfg["work_dir"] = ctx.rel(ctx.stage.output), ctx.rel(ctx.stage.work)
    return _validate(ctx, cfg, CorpusConfig).model_dump(mode="json")


def corpus_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.corpus.config import CorpusConfig
    from recipes.corpus.pipeline import run_corpus

    result = run_corpus(_validate(ctx, resolved, CorpusConfig), output=ctx.stage.output, resume=resume,
                        progress=lambda m: ctx.on_step(f"{ctx.stage.name}: {m}"))
    return {"rows": result.rows, "problems": len(result.problems)}


# -- tiny-base ---------------------------------------------------------------------------------------------
def tiny_base_resolve(ctx: StageContext) -> dict:
    from recipes.tinybase.run import TinyBaseConfig

    cfg = dict(ctx.config)
    corpus = ctx.one("corpus", required=False)
    if corpus is not None:
        cfg["corpus"] = ctx.local(corpus)
    cfg["output"] = ctx.rel(ctx.stage.output)
    return _validate(ctx, cfg, TinyBaseConfig).model_dump(mode="json")


def tiny_base_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.tinybase.run import TinyBaseConfig, train_tiny_base

    shutil.rmtree(ctx.stage.output, ignore_errors=True)
    stats = train_tiny_base(_validate(ctx, resolved, TinyBaseConfig), ctx.stage.output)
    return {k: stats[k] for k in ("parameters", "steps", "final_loss")}


# -- synth -------------------------------------------------------------------------------------------------
def synth_resolve(ctx: StageContext) -> dict:
    from recipes.synth.config import SynthConfig

    cfg = dict(ctx.config)
    backbone = dict(cfg.get("backbone") or {})
    bb = ctx.one("backbone", required="model" not in backbone)
    if bb is not None:
        backbone.update(model=ctx.local(bb), revision=None if bb.path else bb.revision,
                        hub_id=bb.hub_ref if bb.path else None)
    adapter = ctx.one("adapter", required=False)
    if adapter is not None:
        backbone.update(adapter=ctx.local(adapter), adapter_revision=None if adapter.path else adapter.revision)
    cfg["backbone"] = backbone
    inp = ctx.one("input", required=False)
    if inp is not None:
        spec = {k: v for k, v in dict(cfg.get("input") or {}).items() if k not in ("path", "hub", "revision")}
        spec.update(inp.extra)
        if inp.path is not None:
            spec["path"] = ctx.local(inp)
            if inp.hub:
                cfg["source_dataset"] = inp.hub
        else:
            spec.update(hub=inp.hub, revision=inp.revision)
        cfg["input"] = spec
    cfg["output"], cfg["work_dir"] = ctx.rel(ctx.stage.output), ctx.rel(ctx.stage.work)
    return _validate(ctx, cfg, SynthConfig).model_dump(mode="json")


def synth_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.synth.config import SynthConfig
    from recipes.synth.pipeline import run_synth

    result = run_synth(_validate(ctx, resolved, SynthConfig), output=ctx.stage.output, resume=resume,
                       on_step=lambda m: ctx.on_step(f"{ctx.stage.name}: {m}"))
    return {"rows_in": result.rows_in, "rows": result.kept}


# -- train -------------------------------------------------------------------------------------------------
DATA_SLOTS = ("corpus", "instructions_target", "instructions_en")


def train_resolve(ctx: StageContext) -> dict:
    from recipes.train.config import TrainConfig, expand_variants

    cfg = dict(ctx.config)
    base = ctx.one("base_model", required="base_model" not in cfg)
    if base is not None:
        if base.path is not None:
            cfg.update(base_model=ctx.local(base), base_model_id=base.hub, base_model_revision=base.revision)
        else:
            cfg.update(base_model=base.hub, base_model_id=base.hub, base_model_revision=base.revision)
    data = dict(cfg.get("data") or {})
    for slot in DATA_SLOTS:
        if not ctx.all(slot):
            continue
        sources = []
        for inp in ctx.all(slot):
            src = dict(inp.extra)
            if inp.path is not None:
                src.update(path=ctx.local(inp), name=src.get("name") or inp.name, hub_id=inp.hub,
                           revision=inp.revision)
            else:
                src.update(hub=inp.hub, revision=inp.revision, name=src.get("name") or inp.name)
            sources.append({k: v for k, v in src.items() if v is not None})
        data[slot] = sources
    cfg["data"] = data
    cfg["output_dir"] = ctx.rel(ctx.stage.work)
    model = _validate(ctx, cfg, TrainConfig)
    variant = ctx.stage.build.variant
    names = [v.name for v in expand_variants(model)]
    if variant not in names:
        raise UsageProblem(f"{ctx.stage.name}: the train config's grid has no variant {variant!r} "
                           f"(it expands to {', '.join(names)})", where=f"artifact {ctx.stage.name}: build.variant",
                           fix="set build.variant to one of them, or change the grid")
    return model.model_dump(mode="json")


def train_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.train.config import TrainConfig
    from recipes.train.run import train_grid

    variant = ctx.stage.build.variant
    (result,) = train_grid(_validate(ctx, resolved, TrainConfig), (variant,), ctx.stage.work, resume=resume,
                           on_step=lambda m: ctx.on_step(f"{ctx.stage.name}: {m}"))
    shutil.rmtree(ctx.stage.output, ignore_errors=True)
    shutil.move(str(result.output), str(ctx.stage.output))
    return {"steps": result.global_step, "final_loss": result.losses[-1][1] if result.losses else None}


# -- evaluate ----------------------------------------------------------------------------------------------
EVALUATE_DEFAULTS = {"tasks": ["mt_en_eu", "qa_eu", "mcqa_eu"], "limit": None, "max_new_tokens": 32}


def _base_of(ctx: StageContext, adapter: ResolvedInput) -> ResolvedInput | None:
    """An adapter's base among the manifest's artifacts (by the Hub id its adapter_config names)."""
    if adapter.path is None:
        return None
    base_id = json.loads((adapter.path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    art = next((a for a in ctx.manifest.artifacts if a.kind == "model" and ctx.manifest.repo_id(a) == base_id), None)
    if art is None:
        return None
    from hub_tools.artifacts.manifest import tag_name
    from hub_tools.artifacts.provenance import folder_identity

    path = ctx.manifest.artifact_path(art)
    return ResolvedInput("model", InputRef(artifact=art.name), folder_identity(path), path=path, hub=base_id,
                         revision=tag_name(ctx.manifest.version, art.branch), name=art.name, kind="model")


def evaluate_resolve(ctx: StageContext) -> dict:
    cfg = {**EVALUATE_DEFAULTS, **ctx.config}
    unknown = set(cfg) - set(EVALUATE_DEFAULTS)
    if unknown:
        raise UsageProblem(f"{ctx.stage.name}: unknown evaluate setting(s) {', '.join(sorted(unknown))}",
                           fix=f"use {', '.join(EVALUATE_DEFAULTS)}")
    adapter = ctx.one("adapter", required=False)
    model = ctx.one("model", required=adapter is None) or _base_of(ctx, adapter)
    if model is None:
        raise UsageProblem(f"{ctx.stage.name}: the adapter's base is not an artifact of this manifest",
                           fix="add a `model` input (the base)")
    cfg["model"] = ctx.local(model)
    cfg["model_id"], cfg["model_revision"] = model.hub, model.revision
    if adapter is not None:
        cfg["adapter"] = ctx.local(adapter)
        cfg["adapter_id"], cfg["adapter_revision"] = adapter.hub, adapter.revision
    return cfg


def evaluate_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.evaluate.runner import evaluate_to_file

    adapter = resolved.get("adapter")
    doc = evaluate_to_file(
        str(ctx.config_dir / resolved["model"]), ctx.stage.output,
        adapter=str(ctx.config_dir / adapter) if adapter else None,
        tasks=tuple(resolved["tasks"]), limit=resolved["limit"], max_new_tokens=resolved["max_new_tokens"],
        name=resolved.get("adapter_id") or resolved.get("model_id"),
        record={"model": resolved.get("model_id"), "model_revision": resolved.get("model_revision"),
                "adapter": resolved.get("adapter_id"), "adapter_revision": resolved.get("adapter_revision")},
        on_step=lambda m: ctx.on_step(f"{ctx.stage.name}: {m}"))
    return {m["type"] + ":" + r["dataset"]["name"]: m["value"] for r in doc["results"] for m in r["metrics"]}


# -- space -------------------------------------------------------------------------------------------------
def _model_entries(ctx: StageContext, local: bool) -> list[dict]:
    """The app's `models:` for the inputs: Hub ids at release tags (published Space), or local folders."""
    entries = []
    for inp in ctx.all("models"):
        if inp.kind == "adapter" or (inp.path is not None and (inp.path / "adapter_config.json").is_file()):
            base = _base_of(ctx, inp)
            if base is None:
                raise UsageProblem(f"{ctx.stage.name}: the base of {inp.name} is not an artifact of this manifest")
            entry = ({"model": ctx.local(base), "adapter": ctx.local(inp)} if local else
                     {"model": base.hub, "revision": base.revision, "adapter": inp.hub,
                      "adapter_revision": inp.revision})
        else:
            entry = {"model": ctx.local(inp)} if local else {"model": inp.hub, "revision": inp.revision}
        entries.append({"name": inp.extra.get("name") or inp.name or inp.hub, **entry})
    return entries


def space_resolve(ctx: StageContext) -> dict:
    settings = dict(ctx.config)
    if ctx.all("models"):
        settings["models"] = _model_entries(ctx, local=False)
    return {"settings": settings, "name": (ctx.stage.repo_id or ctx.stage.name).split("/")[-1],
            "license": ctx.manifest.license, "languages": ctx.manifest.languages}


def space_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from hub_tools.publish.space_bundle import stage_space

    stage_space(ctx.stage.output, resolved["settings"], name=resolved["name"], license=resolved["license"],
                languages=tuple(resolved["languages"]))
    return {"models": len(resolved["settings"].get("models", []))}


# -- arena -------------------------------------------------------------------------------------------------
def _prompts(path: Path) -> list[str]:
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        turns = row.get("messages") or [{"role": "user" if t.get("from") == "human" else t.get("from"),
                                         "content": t.get("value")} for t in row.get("conversations") or []]
        text = next((m["content"] for m in turns if m.get("role") == "user"), None) \
            or row.get("instruction") or row.get("prompt") or row.get("text")
        if text:
            out.append(text)
    return out


def arena_resolve(ctx: StageContext) -> dict:
    from hub_tools.pipelines.arena import ArenaConfig

    cfg = ArenaConfig.model_validate(ctx.config).model_dump(mode="json")
    space = ctx.one("space")
    prompts = ctx.one("prompts", required=not cfg["prompts"])
    return {**cfg, "models": _model_entries(ctx, local=True), "space": ctx.local(space),
            "prompts_file": ctx.local(prompts) if prompts else None}


def arena_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from hub_tools.pipelines.arena import ArenaConfig, run_round

    cfg = ArenaConfig.model_validate({k: v for k, v in resolved.items()
                                      if k not in ("models", "space", "prompts_file")})
    models = [{k: str((ctx.config_dir / v).resolve()) if k in ("model", "adapter") else v for k, v in m.items()}
              for m in resolved["models"]]
    prompts = _prompts(ctx.config_dir / resolved["prompts_file"]) if resolved["prompts_file"] else []
    return run_round(cfg, (ctx.config_dir / resolved["space"]).resolve(), models, prompts, ctx.stage.output,
                     ctx.stage.work, on_step=ctx.on_step)


# -- preferences -------------------------------------------------------------------------------------------
PREFERENCES_DEFAULTS = {"name": None, "language": None, "include_raw": False, "bootstrap_rounds": 200, "seed": 0,
                        "salt_env": "HUBTOOL_PREFERENCES_SALT"}


def preferences_resolve(ctx: StageContext) -> dict:
    cfg = {**PREFERENCES_DEFAULTS, **ctx.config}
    unknown = set(cfg) - set(PREFERENCES_DEFAULTS)
    if unknown:
        raise UsageProblem(f"{ctx.stage.name}: unknown preferences setting(s) {', '.join(sorted(unknown))}",
                           fix=f"use {', '.join(PREFERENCES_DEFAULTS)}")
    cfg["name"] = cfg["name"] or ctx.stage.name
    cfg["language"] = cfg["language"] or (ctx.manifest.languages or ["eu"])[0]
    votes = ctx.one("votes")
    cfg["votes"] = ctx.local(votes)
    return cfg


def _salt(ctx: StageContext, env: str) -> bytes:
    """The pseudonymization salt: the environment variable, else a secret kept in the project's state dir."""
    if os.environ.get(env):
        return os.environ[env].encode()
    path = ctx.manifest.base_dir / ".hubtool" / "preferences-salt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def preferences_run(ctx: StageContext, resolved: dict, resume: bool) -> dict:
    from recipes.preferences.build import build_preferences, load_votes

    votes = load_votes(ctx.config_dir / resolved["votes"])
    shutil.rmtree(ctx.stage.output, ignore_errors=True)
    build_preferences(votes, ctx.stage.output, resolved["name"], resolved["language"],
                      _salt(ctx, resolved["salt_env"]), resolved["include_raw"], resolved["bootstrap_rounds"],
                      resolved["seed"], source=resolved["votes"])
    return {"votes": len(votes)}


@dataclass(frozen=True)
class Recipe:
    slots: tuple[str, ...]
    resolve: Callable[[StageContext], dict]
    run: Callable[[StageContext, dict, bool], dict]
    code: tuple[str, ...]  # modules/packages whose source is the recipe's code version
    file_output: bool = False


RECIPES: dict[str, Recipe] = {
    "corpus": Recipe(("sources",), corpus_resolve, corpus_run, ("recipes.corpus", "recipes.executors")),
    "tiny-base": Recipe(("corpus",), tiny_base_resolve, tiny_base_run,
                        ("recipes.tinybase", "hub_tools.samples.tiny_models")),
    "synth": Recipe(("backbone", "adapter", "input"), synth_resolve, synth_run,
                    ("recipes.synth", "recipes.executors", "hub_tools.serving.openai_server")),
    "train": Recipe(("base_model",) + DATA_SLOTS, train_resolve, train_run, ("recipes.train",)),
    "evaluate": Recipe(("model", "adapter"), evaluate_resolve, evaluate_run, ("recipes.evaluate",),
                       file_output=True),
    "space": Recipe(("models",), space_resolve, space_run, ("hub_tools.publish.space_bundle", "space")),
    "arena": Recipe(("models", "space", "prompts"), arena_resolve, arena_run,
                    ("hub_tools.pipelines.arena", "space")),
    "preferences": Recipe(("votes",), preferences_resolve, preferences_run, ("recipes.preferences",)),
}
