"""The demo Space as a publishable artifact: space/ plus what it needs to run on its own.

A Space has no hubtool installed, so the bundle carries the two hubtool modules the app imports
(the transformers backend and the Bradley-Terry ratings) under their own names, a settings file,
requirements pinned to the versions this install runs, and a provenance file whose card fields become
the Space README metadata (sdk, sdk_version, app_file, models, datasets, license).
"""
from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

import yaml

from hub_tools.errors import HubtoolError
from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance

APP_FILES = ("app.py", "backends.py", "battle.py", "identity.py", "leaderboard.py", "settings.py", "votes.py")
VENDORED = {"hubtool_serving.py": ("hub_tools.serving", "openai_server.py"),
            "hubtool_ratings.py": ("recipes", "preferences/ratings.py")}
REQUIREMENTS = ("gradio", "huggingface_hub", "transformers", "tokenizers", "safetensors", "peft", "accelerate",
                "torch", "numpy", "pandas", "httpx", "starlette", "pyyaml")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class SpaceBundleError(HubtoolError, ValueError):
    pass


def space_source() -> Path:
    """The app's folder: the installed ``space`` package (it ships in the wheel), or space/ of a checkout."""
    import importlib.util

    spec = importlib.util.find_spec("space")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "app.py").is_file():
            return Path(location).resolve()
    folder = Path(__file__).resolve().parents[2] / "space"
    if not (folder / "app.py").is_file():
        raise SpaceBundleError(f"{folder}: the Space app is not installed with hubtool; reinstall hubtool "
                               "(pip install hubtool) or run from a checkout")
    return folder


def default_settings_path() -> Path:
    return space_source() / "space.yaml"


def _module_path(package: str, relative: str) -> Path:
    import importlib

    return Path(importlib.import_module(package).__file__).resolve().parent / relative


def pinned_requirements() -> list[str]:
    """The versions installed here, without local labels (2.13.0+cpu is a local build; PyPI has 2.13.0)."""
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


def served_repos(settings: dict) -> list[str]:
    """Hub repo ids the Space serves (bases and adapters), for the README's `models:`."""
    repos: list[str] = []
    for spec in settings.get("models", []):
        for key in ("model", "adapter"):
            value = spec.get(key)
            if isinstance(value, str) and _REPO_ID.match(value) and not Path(value).exists() and value not in repos:
                repos.append(value)
    return repos


def load_app_module(source: Path, name: str):
    """One of the app's modules, loaded from ``source`` under a private name (no sys.path change)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"hubtool_space_{name}", source / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def stage_space(out: str | Path, settings: dict, name: str = "demo", license: str = "apache-2.0",
                source: Path | None = None, votes_repo: str | None = None, languages: tuple[str, ...] = ("eu",)) -> Path:
    """Write the deployable Space folder to ``out`` (replaced if it exists) and return it."""
    source = source or space_source()
    load_app_module(source, "settings").parse_settings(settings, "space settings")  # the errors of start-up
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for file in APP_FILES:
        shutil.copy2(source / file, out / file)
    for target, (package, relative) in VENDORED.items():
        shutil.copy2(_module_path(package, relative), out / target)
    if votes_repo:
        settings = {**settings, "votes_repo": votes_repo}
    (out / "space.yaml").write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (out / "requirements.txt").write_text("\n".join(pinned_requirements()) + "\n", encoding="utf-8")
    card = {"title": settings.get("title", name), "sdk": "gradio", "sdk_version": metadata.version("gradio"),
            "app_file": "app.py", "license": license, "models": served_repos(settings),
            "short_description": (settings.get("description") or "hubtool demo")[:60]}
    if settings.get("votes_repo"):
        card["datasets"] = [settings["votes_repo"]]
    if settings.get("auth") == "hf_oauth":
        card["hf_oauth"] = True  # the Space gets "Sign in with Hugging Face" (gr.LoginButton)
    # No build timestamps: the bundle is a function of the code (git_commit) and the settings, so deploying
    # the same thing twice makes no commit.
    prov = Provenance.create(kind="space", name=name, language=list(languages), started_at=None,
                             recipe=RecipeInfo(name="space", version="1.0"), config={"settings": settings}, card=card)
    write_provenance(out, prov)
    return out
