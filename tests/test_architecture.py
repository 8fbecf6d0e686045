"""The layout shows the architecture (docs/architecture.md), and the import graph keeps it.

Walks every import of the shipped code with `ast` (function-level imports included: they are
dependencies too) and asserts: no cycles between modules, nothing outside the CLI imports the CLI, and
imports point down the layers below.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub_tools", "recipes", "space", "cards")

# Lower rank = lower layer. A module may import modules of its own rank or below. The longest prefix wins.
RANKS = {
    "hub_tools.errors": 0,             # the error base
    "hub_tools.text": 0,               # PII patterns
    "hub_tools.hub.names": 0,          # the Hub's naming rules
    "hub_tools.artifacts.frontmatter": 0,
    "hub_tools.serving": 0,            # stand-alone: vendored into the deployed Space
    "hub_tools.localhub": 1,           # the local staging hub (a server)
    "hub_tools.hub": 2,                # Hub access: which endpoint, binding the clients
    "hub_tools.artifacts": 3,          # provenance, manifest, data layout, cards
    "hub_tools.validate": 4,
    "hub_tools.publish": 5,            # push, release, verify, promote, Space staging
    "hub_tools.samples": 6,            # bundled data and tiny builders
    "recipes": 7,                      # pipelines that produce artifacts
    "space": 7,                        # the Gradio app (uses serving and the ratings recipe)
    "cards": 0,                        # templates only
    "hub_tools.pipelines": 8,          # chains of recipes and publishing
    "hub_tools.cli": 9,                # the console entry point, above everything
    "hub_tools.artifact": 3,           # compatibility import of hub_tools.artifacts.provenance
    "hub_tools": 0,                    # the package itself (__version__)
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "metrics" in path.parts:  # evaluate's metric modules are loaded by path, not imported
                continue
            found[_module_name(path)] = path
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names (a package, a module, or a name inside a module)."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` depends on pkg.mod; `from mod import name` on mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for t in targets:
            resolved = _resolve(t, modules)
            if resolved and resolved != name:
                out.add(resolved)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _rank(module: str) -> int:
    best = max((p for p in RANKS if module == p or module.startswith(p + ".")), key=len)
    return RANKS[best]


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_nothing_below_the_cli_imports_it():
    offenders = sorted(f"{m} -> {t}" for m, targets in _graph().items() for t in targets
                       if t.startswith("hub_tools.cli") and not m.startswith("hub_tools.cli"))
    assert not offenders, offenders


def test_imports_point_down_the_layers():
    upward = sorted(f"{m} (rank {_rank(m)}) -> {t} (rank {_rank(t)})" for m, targets in _graph().items()
                    for t in targets if _rank(t) > _rank(m))
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_long_modules_say_why():
    """A module over 400 lines carries a line starting with 'Long module:' near its top saying why."""
    unexplained = []
    for name, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 400 and not any(line.lstrip("# ").startswith("Long module:") for line in lines[:30]):
            unexplained.append(f"{name}: {len(lines)} lines")
    assert not unexplained, unexplained


def test_the_rules_see_real_imports():
    """Guard against a walker that finds nothing: known edges of the project are seen."""
    graph = _graph()
    assert "hub_tools.artifacts.manifest" in graph["hub_tools.publish.release"]
    assert "hub_tools.publish.release" in graph["hub_tools.cli.publish"]  # a function-level import
    assert "recipes.preferences.ratings" in graph["space.leaderboard"]


def test_the_local_hub_app_only_routes():
    """The local hub's app keeps to routing (issue 12): its route families live in localhub/routes/."""
    app = ROOT / "hub_tools" / "localhub" / "app.py"
    assert len(app.read_text(encoding="utf-8").splitlines()) < 300
    assert len(list((ROOT / "hub_tools" / "localhub" / "routes").glob("*.py"))) >= 6
