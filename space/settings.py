"""The demo Space's settings: a YAML file (``space.yaml``) with environment overrides.

A Space is configured by its files and its variables; the same file runs locally with
``hubtool space run``. Secrets (tokens, endpoint keys) are only ever read from the environment by
name, never written in the file.

Environment:
  HUBTOOL_SPACE_CONFIG     the YAML file (default: space.yaml next to app.py)
  HUBTOOL_VOTES_DB         where the SQLite vote store lives (default: votes_db of the file)
  HUBTOOL_VOTES_REPO       Hub dataset repo that receives the exported votes (default: votes_repo)
  HUBTOOL_OPENAI_BASE_URL  base URL for `openai` models that name none (an OpenAI-compatible server,
                           e.g. `vllm serve`, ending in /v1)
  HUBTOOL_SPACE_USERS      `auth: gradio` only: the accounts, "name:password" separated by commas or
                           newlines (a Space secret; never in the file)
  HUBTOOL_PSEUDONYM_SALT   the secret that turns user names into the pseudonyms stored with the votes (a
                           Space secret); without it a random salt is kept in a file beside the vote store
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

BACKENDS = ("transformers", "openai")
AUTH_MODES = ("none", "gradio", "hf_oauth")


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file, the field and the fix."""


@dataclass
class ModelSpec:
    """One model of the demo. ``name`` is what people see (after the vote, in the arena)."""

    name: str
    model: str                          # Hub repo id or local path (transformers); served model name (openai)
    backend: str = "transformers"
    revision: str | None = None         # branch, tag or commit of ``model``
    adapter: str | None = None          # PEFT adapter repo on top of ``model`` (transformers backend)
    adapter_revision: str | None = None
    base_url: str | None = None         # openai backend: http://host:port/v1
    api_key_env: str | None = None      # openai backend: name of the environment variable holding the key
    # Sampling settings of this model's answers (default: the Space's); recorded with every vote.
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None


# shown above the arena unless `rules_text` is set
DEFAULT_RULES = """**How it works.** Two anonymous models answer your message side by side. Ask follow-up questions if
you like: both models answer every turn. Then judge the two answers on **content** (is it right, complete,
useful?) and on **Basque** (is the language correct and natural?); when the two judgements point to different
models you are also asked which answer is better **overall**. The names of the models are shown after your vote.

**What is published.** Your vote, both conversations, the models' sampling settings, and, if you sign in, a
pseudonym (never your user name) and your language level and education, go into an open dataset. Do not write
personal information in your messages."""


@dataclass
class SpaceSettings:
    models: list[ModelSpec]
    title: str = "Basque LLM demo"
    description: str = ""
    system_prompt: str = "Euskaraz erantzun beti."
    max_input_chars: int = 2000
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    arena: bool = True
    consent_text: str | None = None     # when set, a vote needs the consent box ticked
    rules_text: str = ""                # shown above the arena (how to vote, what is published)
    auth: str = "none"                  # none (anonymous), gradio (accounts in HUBTOOL_SPACE_USERS), hf_oauth
    vote_limit: int = 20                # votes one person and one client (IP) may cast per window; 0: no limit
    vote_limit_window_s: float = 600.0
    proxy_hops: int | None = None       # proxies whose X-Forwarded-For is trusted; None: 1 on a hosted Space, else 0
    max_turns: int = 5                  # user turns per battle (the first prompt and the follow-ups)
    max_concurrent_battles: int = 16    # battles streamed at once (HTTP backends generate them in parallel)
    leaderboard_cache_s: float = 30.0   # the leaderboard is recomputed at most this often
    stream_interval_s: float = 0.1      # arena answers reach the page at most this often while they stream
    votes_db: str = "data/votes.sqlite"
    votes_repo: str | None = None
    export_every_minutes: float = 5.0
    bootstrap_rounds: int = 200
    source: Path | None = field(default=None, repr=False)

    def model(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise KeyError(f"no model named {name!r}; known: {', '.join(m.name for m in self.models)}")

    def sampling(self, name: str) -> dict:
        """The sampling settings of ``name``'s answers: its own where set, else the Space's."""
        spec = self.model(name)
        return {"temperature": float(self.temperature if spec.temperature is None else spec.temperature),
                "top_p": float(self.top_p if spec.top_p is None else spec.top_p),
                "max_new_tokens": int(self.max_new_tokens if spec.max_new_tokens is None else spec.max_new_tokens)}


def _check_keys(data: dict, cls: type, where: str) -> None:
    known = {f.name for f in fields(cls)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def parse_settings(data: dict, source: str = "<settings>") -> SpaceSettings:
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping at the top level")
    data = dict(data)
    _check_keys(data, SpaceSettings, source)
    raw_models = data.pop("models", None)
    if not isinstance(raw_models, list) or not raw_models:
        raise SettingsError(f"{source}: `models` must be a non-empty list of {{name, model, backend, ...}}")
    models = []
    for i, raw in enumerate(raw_models):
        where = f"{source}: models[{i}]"
        if not isinstance(raw, dict):
            raise SettingsError(f"{where}: expected a mapping")
        _check_keys(raw, ModelSpec, where)
        if not raw.get("name") or not raw.get("model"):
            raise SettingsError(f"{where}: `name` and `model` are required")
        spec = ModelSpec(**raw)
        if spec.backend == "openai" and (spec.adapter or spec.adapter_revision):
            raise SettingsError(f"{where}: `adapter` needs the transformers backend; an openai endpoint serves "
                                "the adapter itself (e.g. `vllm serve --enable-lora`)")
        if spec.backend not in BACKENDS:
            raise SettingsError(f"{where}: backend {spec.backend!r} is not one of {', '.join(BACKENDS)}")
        models.append(spec)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise SettingsError(f"{source}: model names must be unique, got {names}")
    settings = SpaceSettings(models=models, **data)
    if settings.auth not in AUTH_MODES:
        raise SettingsError(f"{source}: auth {settings.auth!r} is not one of {', '.join(AUTH_MODES)}")
    for name in ("max_input_chars", "max_new_tokens", "max_turns", "max_concurrent_battles"):
        if int(getattr(settings, name)) < 1:
            raise SettingsError(f"{source}: `{name}` must be at least 1")
    if settings.vote_limit < 0 or settings.vote_limit_window_s <= 0:
        raise SettingsError(f"{source}: `vote_limit` must be >= 0 (0: no limit) and `vote_limit_window_s` > 0")
    if settings.proxy_hops is not None and (isinstance(settings.proxy_hops, bool) or
                                            not isinstance(settings.proxy_hops, int) or settings.proxy_hops < 0):
        raise SettingsError(f"{source}: `proxy_hops` must be an integer >= 0 (the proxies in front of the Space "
                            "that add X-Forwarded-For), or left out (1 on a hosted Space, 0 elsewhere)")
    if settings.arena and len(models) < 2:
        raise SettingsError(f"{source}: the arena needs at least two models (or set `arena: false`)")
    return settings


def load_settings(path: str | Path | None = None) -> SpaceSettings:
    """Settings from ``path`` (or HUBTOOL_SPACE_CONFIG, or space.yaml beside this file), then the environment."""
    path = Path(path or os.environ.get("HUBTOOL_SPACE_CONFIG") or Path(__file__).with_name("space.yaml"))
    if not path.is_file():
        raise SettingsError(f"{path}: no such settings file (set HUBTOOL_SPACE_CONFIG or pass --config)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML: {err}") from err
    settings = parse_settings(data, str(path))
    settings.source = path
    settings.votes_db = os.environ.get("HUBTOOL_VOTES_DB") or settings.votes_db
    settings.votes_repo = os.environ.get("HUBTOOL_VOTES_REPO") or settings.votes_repo
    base_url = os.environ.get("HUBTOOL_OPENAI_BASE_URL")
    for spec in settings.models:
        if spec.backend == "openai" and not spec.base_url:
            if not base_url:
                raise SettingsError(f"{path}: model {spec.name!r} uses the openai backend but has no base_url "
                                    "and HUBTOOL_OPENAI_BASE_URL is not set")
            spec.base_url = base_url
    if not Path(settings.votes_db).is_absolute():
        settings.votes_db = str((path.parent / settings.votes_db).resolve())
    return settings
