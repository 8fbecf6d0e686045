"""Every third-party module that hubtool's code imports is declared in pyproject.toml (directly, not only as
another package's dependency), so an upstream change to that package's own requirements cannot break
hubtool. GPU-only modules may be declared in the `gpu` extra."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub_tools", "recipes", "cards", "space")
# The Space's own modules import each other by file name; these two are hubtool modules the Space bundle
# ships beside app.py under these names (hub_tools/publish/space_bundle.py, VENDORED).
FIRST_PARTY = set(PACKAGES) | {p.stem for p in (ROOT / "space").glob("*.py")} | {"hubtool_ratings",
                                                                                  "hubtool_serving"}


# Maintainers' scripts that rebuild bundled data run with the `dev` extra installed; nothing imports them.
DEV_SCRIPTS = ("recipes/corpus/evalset/build_evalset.py",)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalized(re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0])


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    gpu = {_requirement_name(r) for r in project["optional-dependencies"]["gpu"]}
    dev = {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(imported_modules().items()):
        names = {_normalized(d) for d in distributions.get(module, [])} or {_normalized(module)}  # not installed
        allowed = declared | gpu | (dev if set(files) <= set(DEV_SCRIPTS) else set())
        if not names & allowed:
            missing.append(f"{module} (distribution {', '.join(sorted(names))}), "
                           f"imported by {', '.join(sorted(files))}")
    assert not missing, "imported but not declared in pyproject.toml:\n" + "\n".join(missing)


def test_the_scan_sees_the_imports_it_must_check():
    """The scan itself: it finds a module imported inside a function (push.py imports httpx2 there)."""
    modules = imported_modules()
    assert "hub_tools/publish/push.py" in modules["httpx2"] and "torch" in modules and "os" not in modules
