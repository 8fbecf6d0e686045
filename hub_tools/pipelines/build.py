"""`hubtool build`: make every artifact of a release manifest that says how it is built, in dependency order.

A stage is an artifact with ``build:`` or an entry of ``stages:``. Its fingerprint is the sha256 of the
recipe's resolved config (inputs filled in), the content identities of its inputs (upstream outputs,
local files, Hub repos at a revision) and the recipe's code (the source files of its package). A stage
whose fingerprint and output are unchanged since its last build is skipped; a failed stage stops the run
with its name, and the next run resumes there (recipes that checkpoint continue from their checkpoints).

State: ``.hubtool/build.json`` next to the manifest, keyed by output path; each built artifact's
hubtool.json also records its stage and fingerprint (``build``) and its inputs by Hub id and release tag.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hub_tools import __version__
from hub_tools.artifacts.manifest import Manifest, tag_name
from hub_tools.artifacts.provenance import (
    DATASET_KINDS,
    PROVENANCE_FILE,
    BuildRecord,
    InputFingerprint,
    SourceDataset,
    folder_identity,
    read_provenance,
    write_provenance,
)
from hub_tools.errors import HubtoolError, UsageProblem
from hub_tools.pipelines.stages import RECIPES, ResolvedInput, Stage, StageContext

log = logging.getLogger(__name__)
STATE_DIR = ".hubtool"


class BuildFailed(HubtoolError):
    """A stage failed; the stages before it are kept, and the next run resumes at it."""

    def __init__(self, stage: str, message: str, result: "BuildResult"):
        super().__init__(f"stage {stage} failed: {message}", where=f"stage {stage}",
                         fix="fix the cause and run the build again: finished stages are skipped, this one resumes")
        self.stage, self.result = stage, result


@dataclass
class StageOutcome:
    name: str
    recipe: str
    status: str               # built | skipped | failed | not run
    output: str               # relative to the manifest
    seconds: float = 0.0
    fingerprint: str = ""
    summary: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class BuildResult:
    manifest: str
    stages: list[StageOutcome] = field(default_factory=list)

    @property
    def built(self) -> list[str]:
        return [s.name for s in self.stages if s.status == "built"]

    def to_dict(self) -> dict:
        return {"manifest": self.manifest, "built": self.built,
                "skipped": [s.name for s in self.stages if s.status == "skipped"],
                "stages": [asdict(s) for s in self.stages]}


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def collect_stages(manifest: Manifest) -> list[Stage]:
    """Every stage of the manifest, in dependency order; usage errors name the manifest line."""
    stages: dict[str, Stage] = {}
    where = str(manifest.source.name if manifest.source else "release.yaml")

    def problem(message: str, *loc, fix: str | None = None) -> UsageProblem:
        line = manifest.line_of(*loc)
        return UsageProblem(message, where=f"{where}:{line}" if line else where, fix=fix)

    for i, art in enumerate(manifest.artifacts):
        if art.build is not None:
            branch = art.branch
            stages[art.name] = Stage(art.name, art.build, manifest.artifact_path(art), ("artifacts", i, "build"),
                                     art.kind, manifest.repo_id(art), tag_name(manifest.version, branch))
    for i, st in enumerate(manifest.stages):
        if st.name in stages or manifest.artifact(st.name) is not None:
            raise problem(f"stage {st.name!r} has the name of an artifact", "stages", i, "name")
        stages[st.name] = Stage(st.name, st.build, (manifest.base_dir / st.path).resolve(), ("stages", i, "build"))
    names = {a.name for a in manifest.artifacts} | set(stages)
    deps: dict[str, set[str]] = {}
    for name, stage in stages.items():
        recipe = RECIPES.get(stage.build.recipe)
        if recipe is None:
            raise problem(f"{name}: unknown recipe {stage.build.recipe!r}", *stage.loc, "recipe",
                          fix=f"use one of {', '.join(RECIPES)}")
        if stage.build.recipe == "train" and not stage.build.variant:
            raise problem(f"{name}: a train stage names its variant of the grid", *stage.loc,
                          fix="add `variant: exp_...` to its build")
        deps[name] = set()
        for slot, ref in stage.build.refs():
            if slot not in recipe.slots:
                raise problem(f"{name}: recipe {stage.build.recipe} has no input {slot!r}", *stage.loc, "inputs",
                              slot, fix=f"its inputs are {', '.join(recipe.slots)}")
            if ref.artifact is not None:
                if ref.artifact not in names:
                    raise problem(f"{name}: input {slot} names {ref.artifact!r}, which is no artifact or stage of "
                                  "this manifest", *stage.loc, "inputs", slot)
                if ref.artifact in stages:
                    deps[name].add(ref.artifact)
    order: list[str] = []
    visiting: set[str] = set()

    def visit(n: str, chain: tuple[str, ...]) -> None:
        if n in order:
            return
        if n in visiting:
            raise problem(f"the inputs form a cycle: {' -> '.join(chain + (n,))}", *stages[n].loc, "inputs")
        visiting.add(n)
        for d in sorted(deps[n]):
            visit(d, chain + (n,))
        visiting.discard(n)
        order.append(n)

    for n in stages:
        visit(n, ())
    return [stages[n] for n in order]


def code_fingerprint(modules: tuple[str, ...]) -> str:
    """sha256 of the source files of the given modules or packages (and hubtool's version)."""
    h = hashlib.sha256(__version__.encode())
    for name in modules:
        if name == "space":
            from hub_tools.publish.space_bundle import space_source

            roots = [space_source()]
        else:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"the code of {name} is not installed")
            origin = Path(spec.origin)
            roots = [origin.parent] if origin.name == "__init__.py" else [origin]
        for root in roots:
            files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root])
                           if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"))
            for f in files:
                h.update((f.relative_to(root.parent).as_posix() + "\0").encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _resolve_inputs(manifest: Manifest, stage: Stage, stages: dict[str, Stage]) -> dict[str, list[ResolvedInput]]:
    out: dict[str, list[ResolvedInput]] = {}
    for slot, ref in stage.build.refs():
        if ref.artifact is not None:
            art = manifest.artifact(ref.artifact)
            path = manifest.artifact_path(art) if art else stages[ref.artifact].output
            if not path.exists():
                raise UsageProblem(f"{stage.name}: its input {ref.artifact} ({os.path.relpath(path, manifest.base_dir)})"
                                   " does not exist", fix="build it first (hubtool build), or fix its `path`")
            inp = ResolvedInput(slot, ref, folder_identity(path), path=path, name=ref.artifact,
                                hub=manifest.repo_id(art) if art else None,
                                revision=tag_name(manifest.version, art.branch) if art else None,
                                kind=art.kind if art else None)
        elif ref.path is not None:
            path = (manifest.base_dir / ref.path).resolve()
            if not path.exists():
                raise UsageProblem(f"{stage.name}: input {slot} {ref.path} does not exist",
                                   where=f"{manifest.source}", fix="fix the path (relative to the manifest)")
            inp = ResolvedInput(slot, ref, folder_identity(path), path=path)
        else:
            inp = ResolvedInput(slot, ref, f"{ref.hub}@{ref.revision or 'main'}", hub=ref.hub, revision=ref.revision)
        out.setdefault(slot, []).append(inp)
    return out


def _context(manifest: Manifest, stage: Stage, stages: dict[str, Stage], on_step) -> StageContext:
    config: dict = {}
    config_dir = manifest.base_dir
    if stage.build.config:
        path = (manifest.base_dir / stage.build.config).resolve()
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise UsageProblem(f"{stage.name}: cannot read its config {stage.build.config} ({err.strerror})",
                               where=str(manifest.source), fix="fix `build.config` (relative to the manifest)") from None
        config_dir = path.parent
    config = _deep_merge(config, stage.build.set)
    return StageContext(manifest, stage, config, config_dir, _resolve_inputs(manifest, stage, stages), on_step)


def stage_fingerprint(ctx: StageContext, resolved: dict) -> str:
    recipe = RECIPES[ctx.stage.build.recipe]
    payload = {"recipe": ctx.stage.build.recipe, "variant": ctx.stage.build.variant, "code": code_fingerprint(recipe.code),
               "config": resolved, "inputs": {slot: [i.identity for i in found] for slot, found in ctx.inputs.items()}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def record_lineage(ctx: StageContext, fingerprint: str) -> None:
    """The output's hubtool.json names its inputs by Hub id and release tag (or by manifest path and content
    fingerprint), and the stage that built it."""
    path = ctx.stage.output
    if not (path / PROVENANCE_FILE).is_file():
        return
    prov = read_provenance(path)
    everything = [inp for found in ctx.inputs.values() for inp in found]
    by_rel = {os.path.relpath(inp.path, ctx.config_dir): inp for inp in everything if inp.path is not None}
    matched: set[int] = set()
    for entry in prov.inputs:  # the recipe's own record of an input: name it as the community can find it
        inp = by_rel.get(entry.ref) or next((i for i in everything if i.hub and entry.ref == i.hub), None)
        if inp is None:
            continue
        matched.add(id(inp))
        entry.ref = _public_ref(inp)
        entry.revision = inp.revision if inp.hub else None
        entry.sha256 = entry.sha256 or (inp.identity if inp.path is not None else None)
    for inp in everything:
        if id(inp) not in matched:
            prov.inputs.append(InputFingerprint(name=f"{inp.slot}:{inp.name or inp.ref.path or inp.hub}",
                                                ref=_public_ref(inp), revision=inp.revision if inp.hub else None,
                                                sha256=inp.identity if inp.path is not None else None))
        dataset = inp.kind in DATASET_KINDS or (inp.path is None and inp.slot not in MODEL_SLOTS)
        if inp.hub and dataset:
            prov.source_datasets = [s for s in prov.source_datasets if s.id != inp.hub]
            prov.source_datasets.append(SourceDataset(id=inp.hub, revision=inp.revision))
    config_rel = None
    if ctx.stage.build.config:
        config_rel = Path(ctx.stage.build.config).as_posix()
    prov.build = BuildRecord(stage=ctx.stage.name, recipe=ctx.stage.build.recipe, config=config_rel,
                             fingerprint=fingerprint)
    write_provenance(path, prov)


MODEL_SLOTS = ("backbone", "adapter", "base_model", "model", "models", "space")


def _public_ref(inp: ResolvedInput) -> str:
    """An input as hubtool.json names it: its Hub id, else the stage, else the path as the manifest wrote it."""
    if inp.hub:
        return inp.hub
    return f"stage:{inp.name}" if inp.name else (inp.ref.path or "")


def _state_path(manifest: Manifest) -> Path:
    """One state file per project folder, keyed by output path: two manifests of one project (release.yaml,
    release-v1.1.yaml) that build the same artifacts share what was built."""
    return manifest.base_dir / STATE_DIR / "build.json"


def _load_state(manifest: Manifest) -> dict:
    path = _state_path(manifest)
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _save_state(manifest: Manifest, state: dict) -> None:
    path = _state_path(manifest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def run_build(manifest: Manifest, only: set[str] | None = None, force: bool = False,
              on_step: Callable[[str], None] | None = None) -> BuildResult:
    """Build the stages of ``manifest`` (``only``: those and what they need) in dependency order."""
    step = on_step or (lambda msg: log.info(msg))
    ordered = collect_stages(manifest)
    by_name = {s.name: s for s in ordered}
    if only:
        unknown = only - set(by_name)
        if unknown:
            raise UsageProblem(f"--only names no stage of the manifest: {', '.join(sorted(unknown))}",
                               fix=f"stages: {', '.join(by_name)}")
        needed: set[str] = set()

        def need(n: str) -> None:
            if n not in needed:
                needed.add(n)
                for _, ref in by_name[n].build.refs():
                    if ref.artifact in by_name:
                        need(ref.artifact)

        for n in only:
            need(n)
        ordered = [s for s in ordered if s.name in needed]
    state = _load_state(manifest)
    result = BuildResult(str(manifest.source.name if manifest.source else "release.yaml"))
    rel = lambda p: os.path.relpath(p, manifest.base_dir)  # noqa: E731
    for stage in ordered:
        outcome = StageOutcome(stage.name, stage.build.recipe, "not run", rel(stage.output))
        result.stages.append(outcome)
        recipe = RECIPES[stage.build.recipe]
        ctx = _context(manifest, stage, by_name, step)
        resolved = recipe.resolve(ctx)
        fingerprint = stage_fingerprint(ctx, resolved)
        outcome.fingerprint = fingerprint
        key = outcome.output  # the output path, relative to the manifest
        before = state.get(key, {})
        if (not force and before.get("status") == "built" and before.get("fingerprint") == fingerprint
                and stage.output.exists() and folder_identity(stage.output) == before.get("identity")):
            outcome.status, outcome.summary = "skipped", before.get("summary", {})
            step(f"{stage.name}: unchanged, skipped")
            continue
        resume = before.get("status") == "failed" and before.get("fingerprint") == fingerprint and not force
        step(f"{stage.name}: {'resuming' if resume else 'running'} recipe {stage.build.recipe}")
        start = time.perf_counter()
        log_path = manifest.base_dir / STATE_DIR / "logs" / f"{stage.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        real_stderr = sys.stderr

        def progress(msg: str, _step=step, _err=real_stderr) -> None:
            with contextlib.redirect_stderr(_err):
                _step(msg)

        ctx.on_step = progress
        try:
            # what the libraries print (datatrove's task logs, TRL's progress) goes to the stage's log file
            with open(log_path, "w", encoding="utf-8") as log_file, contextlib.redirect_stdout(log_file), \
                    contextlib.redirect_stderr(log_file):
                outcome.summary = recipe.run(ctx, resolved, resume) or {}
            record_lineage(ctx, fingerprint)
        except Exception as err:  # the stage is named; the run stops here and resumes here next time
            outcome.status, outcome.seconds = "failed", round(time.perf_counter() - start, 2)
            outcome.error = f"{type(err).__name__}: {err} (log: {os.path.relpath(log_path, manifest.base_dir)})"[:2000]
            state[key] = {"stage": stage.name, "status": "failed", "fingerprint": fingerprint, "error": outcome.error}
            _save_state(manifest, state)
            for later in [s for s in ordered if s.name not in {o.name for o in result.stages}]:
                result.stages.append(StageOutcome(later.name, later.build.recipe, "not run", rel(later.output)))
            raise BuildFailed(stage.name, f"{err or type(err).__name__} (its log: {log_path})", result) from err
        outcome.status, outcome.seconds = "built", round(time.perf_counter() - start, 2)
        state[key] = {"stage": stage.name, "status": "built", "fingerprint": fingerprint,
                      "identity": folder_identity(stage.output), "summary": outcome.summary, "seconds": outcome.seconds}
        _save_state(manifest, state)
        step(f"{stage.name}: built in {outcome.seconds:.1f}s")
    return result
