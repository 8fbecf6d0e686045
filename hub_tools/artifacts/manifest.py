"""The release manifest (``release.yaml``): what a release publishes, where, under which version.

Example (annotated: examples/release.yaml)::

    namespace: hitz
    version: v1.0
    languages: [eu]
    license: apache-2.0
    collection: {title: Latxa Instruct sample}
    artifacts:
      - {name: corpus, kind: corpus, path: corpus, repo: latxa-corpus-sample}
      - {name: exp_2_111, kind: adapter, path: adapters/exp_2_111, repo: latxa-instruct, branch: exp_2_111,
         eval_results: results/exp_2_111.json}

An artifact may also say how it is built (``build:``: a recipe, its config, and inputs that name other
artifacts of the file, Hub datasets at a revision, or local files); ``stages:`` lists built outputs that
are not published (evaluation results, arena votes). ``hubtool build`` runs them in dependency order
(docs/building.md)::

      - name: magpie
        kind: instructions
        path: artifacts/magpie
        repo: basque-sample-magpie
        build: {recipe: synth, config: configs/magpie.yaml, inputs: {backbone: base}}

Errors name the file, the line and the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub_tools.errors import HubtoolError
from hub_tools.artifacts.overlap_settings import OverlapSettings
from hub_tools.artifacts.provenance import ArtifactKind

REPO_TYPE_OF_KIND = {"corpus": "dataset", "instructions": "dataset", "preferences": "dataset", "eval": "dataset",
                     "model": "model", "adapter": "model", "space": "space"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionSpec(_Strict):
    title: str = Field(min_length=1, max_length=60)
    description: str | None = None
    private: bool = False


class ValidationSettings(_Strict):
    language_threshold: float = Field(0.8, ge=0, le=1, description="Minimum share of sampled rows in a declared language.")
    language_sample: int = Field(300, ge=10, description="Rows sampled per split for language identification.")
    languages_considered: list[str] = Field(default_factory=lambda: ["en", "es", "fr"],
                                            description="Other languages the detector may answer besides the declared ones.")
    max_findings_per_check: int = Field(20, ge=1)
    overlap: OverlapSettings = Field(default_factory=OverlapSettings,
                                     description="N-gram overlap of evaluation sets with training artifacts.")


class InputRef(BaseModel):
    """Where one recipe input comes from: exactly one of an artifact (or stage) of this manifest, a Hub
    dataset or model at a revision, or a local file or folder (relative to the manifest). Other keys (a
    training source's ``weight``, a split, a corpus source's ``format`` ...) go to the recipe as they are."""

    model_config = ConfigDict(extra="allow")

    artifact: str | None = Field(None, description="Name of an artifact or stage of this manifest.")
    hub: str | None = Field(None, description="Hub repo id (org/name).")
    revision: str | None = Field(None, description="Hub revision: a tag such as v1.0, a branch or a commit.")
    path: str | None = Field(None, description="A local file or folder, relative to the manifest.")

    @model_validator(mode="after")
    def _one_source(self) -> "InputRef":
        given = [k for k in ("artifact", "hub", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("an input names exactly one of `artifact`, `hub` or `path`"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _input_refs(value: Any) -> Any:
    """``corpus`` is short for ``{artifact: corpus}``, in a list too."""
    if isinstance(value, str):
        return {"artifact": value}
    if isinstance(value, list):
        return [_input_refs(v) for v in value]
    return value


class BuildSpec(_Strict):
    """How an artifact (or stage) is made: a recipe, its config, and where its inputs come from."""

    recipe: str = Field(description="corpus, tiny-base, synth, train, evaluate, space, arena or preferences.")
    config: str | None = Field(None, description="The recipe's config file, relative to the manifest.")
    set: dict[str, Any] = Field(default_factory=dict, description="Overrides merged into the config (nested keys).")
    inputs: dict[str, InputRef | list[InputRef]] = Field(
        default_factory=dict, description="Recipe input slot -> source(s); see docs/building.md for each recipe's slots.")
    variant: str | None = Field(None, description="train: the variant of the config's grid this artifact is.")

    @field_validator("inputs", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {k: _input_refs(v) for k, v in value.items()} if isinstance(value, dict) else value

    def refs(self) -> list[tuple[str, InputRef]]:
        """(slot, input) pairs, lists flattened."""
        return [(slot, ref) for slot, v in self.inputs.items() for ref in (v if isinstance(v, list) else [v])]


class StageSpec(_Strict):
    """A built output that is not published itself (evaluation results, arena votes)."""

    name: str = Field(min_length=1)
    path: str = Field(description="File or folder the stage writes, relative to the manifest.")
    build: BuildSpec


class ArtifactSpec(_Strict):
    name: str = Field(min_length=1)
    kind: ArtifactKind
    path: str
    repo: str = Field(description="Target repo id (org/name); a bare name gets the release namespace.")
    branch: str = "main"
    private: bool = False
    card: dict[str, Any] = Field(default_factory=dict, description="Extra card fields, merged over provenance.")
    template: str | None = Field(default=None, description="Path of a Jinja card template overriding cards/.")
    eval_results: str | None = Field(default=None, description="Evaluation results (JSON) of a model/adapter.")
    base_model_path: str | None = Field(default=None, description="Local copy of an adapter's base model.")
    chat: bool = Field(default=True, description="Chat model: a chat template is required.")
    build: BuildSpec | None = Field(default=None, description="How `hubtool build` makes this artifact.")
    validation: ValidationSettings | None = Field(default=None, description="Overrides of the release's "
                                                  "validation settings for this artifact (only the fields given).")


class PromoteRule(_Strict):
    """Which variant of a model repo becomes its `main`: the best by one metric of its eval results."""

    repo: str = Field(description="Model repo whose variant branches compete (bare name or org/name).")
    metric: str = Field(description="Metric type in the eval results, e.g. accuracy or bleu.")
    task: str | None = Field(None, description="Task type to read the metric from, if several have it.")
    higher_is_better: bool = True


class Manifest(_Strict):
    namespace: str
    version: str = Field(min_length=1)
    languages: list[str] = Field(default_factory=list, description="ISO 639-1 codes of the release.")
    license: str = Field("", description="Hub licence id, e.g. apache-2.0.")
    collection: CollectionSpec | None = None
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    artifacts: list[ArtifactSpec] = Field(min_length=1)
    promote: list[PromoteRule] = Field(default_factory=list, description="Variants that become `main`.")
    stages: list[StageSpec] = Field(default_factory=list, description="Built outputs that are not published.")

    # set by load_manifest, not part of the YAML
    _source: Path | None = None
    _lines: dict[tuple, int] = {}

    @field_validator("languages")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [x.lower() for x in v]

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def artifact_path(self, art: ArtifactSpec) -> Path:
        return (self.base_dir / art.path).resolve()

    def repo_id(self, art: ArtifactSpec) -> str:
        return self.full_repo_id(art.repo)

    def validation_for(self, art: ArtifactSpec) -> ValidationSettings:
        """The release's validation settings with the artifact's own overrides."""
        if art.validation is None:
            return self.validation
        return self.validation.model_copy(update={k: getattr(art.validation, k) for k in art.validation.model_fields_set})

    def artifact(self, name: str) -> ArtifactSpec | None:
        return next((a for a in self.artifacts if a.name == name), None)

    def full_repo_id(self, repo: str) -> str:
        return repo if "/" in repo else f"{self.namespace}/{repo}"

    def line_of(self, *loc: Any) -> int | None:
        """The YAML line of a field, e.g. ``line_of('artifacts', 2, 'repo')``; the nearest parent's if absent."""
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return None

    @property
    def source(self) -> Path | None:
        return self._source


@dataclass
class ManifestIssue:
    field: str
    line: int | None
    message: str


class ManifestError(HubtoolError, ValueError):
    def __init__(self, path: Path, issues: list[ManifestIssue]):
        self.path, self.issues = path, issues
        super().__init__("\n".join(f"{path}:{i.line or '?'}: {i.field}: {i.message}" for i in issues),
                         fix=f"run `hubtool validate {path}` for every problem at once")


def _line_map(node: yaml.Node, prefix: tuple = ()) -> dict[tuple, int]:
    """YAML node positions by field path: ('artifacts', 0, 'repo') -> 1-based line."""
    out = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[prefix + (key.value,)] = key.start_mark.line + 1
            out.update({k: v for k, v in _line_map(value, prefix + (key.value,)).items() if k != prefix + (key.value,)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_line_map(item, prefix + (i,)))
    return out


def load_manifest(path: str | Path) -> Manifest:
    """Parse and check a release manifest; :class:`ManifestError` lists every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(path, [ManifestIssue("-", None, f"cannot read: {err.strerror}")]) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ManifestError(path, [ManifestIssue("-", mark.line + 1 if mark else None, f"invalid YAML: {err}")]) \
            from None
    if not isinstance(data, dict):
        raise ManifestError(path, [ManifestIssue("-", 1, "the manifest must be a YAML mapping")])
    lines = _line_map(node) if node is not None else {}
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as err:
        issues = []
        for e in err.errors():
            loc = tuple(e["loc"])
            line = None
            probe = loc
            while probe and line is None:
                line = lines.get(probe)
                probe = probe[:-1]
            issues.append(ManifestIssue(".".join(str(p) for p in loc) or "-", line, e["msg"]))
        raise ManifestError(path, issues) from None
    manifest._source = path.resolve()
    manifest._lines = lines
    return manifest


def tag_name(version: str, branch: str) -> str:
    """The release tag of one repo revision: the version on main, ``<version>-<branch>`` on variant branches."""
    return version if branch == "main" else f"{version}-{branch}"
