"""Mutation testing of the modules that decide what gets published (issue 18): `make mutation`.

For each module below, cosmic-ray mutates the source file in place, one mutant at a time, and runs the
module's focused tests (a real local hub included where the module is the hub's auth). A surviving
mutant is either killed by a new test or explained in tests/mutation/equivalent.toml (why no test can
tell it from the original). The report, with its score, goes to docs/mutation-report.md.

Where a module's tests are slow (a release pushes to a real local hub), only the functions that make the
publishing decision are mutated (``functions`` below; resolved to line ranges with ``ast`` and applied with
cosmic-ray's line filter), and the report says so.

``--only MODULE`` re-runs one module and keeps the other modules' results of the last run (the JSON next to
the report), so each module's figures always come from its own last complete run.

Not part of CI (it costs one focused test run per mutant). Run it on a quiet checkout: the files are
mutated on disk while it runs and restored afterwards.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


@dataclass(frozen=True)
class Target:
    module: str
    tests: str  # pytest arguments: the tests that must notice a change in the module
    functions: tuple[str, ...] = ()  # mutate only these (``Class.method`` or ``function``); empty: all


# The local hub's access tests over HTTP with the real clients, without the test of the data dir's file modes
# (not an access decision); the rule table of auth.py runs first.
LOCALHUB = ("tests/test_localhub_auth.py tests/test_localhub_security.py tests/test_localhub_api.py "
            "tests/test_localhub_pulls.py -k 'not test_data_dir_is_private'")
# Dataset validation: findings, caps, and every HT1xx/HT4xx check with its good twin (not the model and Space
# checks).
VALIDATION = ("tests/test_validation_findings.py tests/test_dataset_checks.py tests/test_validate.py "
              "-k 'not models and not ht2 and not ht3'")
# A release decides: two small datasets of the sample release (plan, refusal, tags, re-runs), then the slower
# whole-release tests for what only they reach (validation stop, promotion to main, pull requests).
RELEASE = ("tests/test_release_decisions.py tests/test_release.py::test_validation_error_stops_before_first_upload "
           "tests/test_release.py::test_release_promotes_the_best_variant_to_main tests/test_release_pr.py")

TARGETS: list[Target] = [
    Target("recipes/preferences/ratings.py", "tests/test_ratings.py"),
    Target("hub_tools/text/pii.py", "tests/test_pii.py"),
    Target("hub_tools/validate/findings.py", VALIDATION),
    Target("hub_tools/validate/rows.py", VALIDATION, ("_messages_problem", "required_columns", "row_text", "check_text")),
    Target("hub_tools/validate/dataset_checks.py", VALIDATION, ("check_dataset", "_combine", "_check_language")),
    Target("hub_tools/localhub/auth.py", LOCALHUB),
    Target("hub_tools/localhub/context.py", LOCALHUB),
    Target("hub_tools/localhub/routes/repos.py", LOCALHUB, ("create_repo", "delete_repo", "list_repos")),
    Target("hub_tools/localhub/routes/collections.py", LOCALHUB,
           ("_collection_json", "_item_visible", "list_collections")),
    Target("hub_tools/localhub/routes/lfs.py", LOCALHUB, ("_possessed",)),
    Target("hub_tools/localhub/routes/commits.py", LOCALHUB, ("_target",)),
    Target("hub_tools/localhub/routes/discussions.py", LOCALHUB, ("_may_moderate",)),
    Target("hub_tools/publish/release.py", RELEASE, ("_existing_tag", "run_release")),
]

# One representative replacement per operator family keeps the run affordable on two cores while still
# flipping every comparison, boolean, constant and arithmetic decision once.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv|Pow_Mul)",
    r"core/ReplaceComparisonOperator_(Is|IsNot|In|NotIn)_(?!IsNot|Is|NotIn|In)",
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE)_(Is|IsNot|In|NotIn)",
]


def line_ranges(module: str, functions: tuple[str, ...]) -> list[str]:
    """``start-end`` line ranges (decorators included) of the named functions or methods of ``module``."""
    tree = ast.parse((ROOT / module).read_text())
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{sub.name}"] = sub
    missing = [f for f in functions if f not in found]
    if missing:
        raise SystemExit(f"{module}: no function(s) {', '.join(missing)}; fix TARGETS in {__file__}")
    return [f"{min([found[f].lineno] + [d.lineno for d in found[f].decorator_list])}-{found[f].end_lineno}"
            for f in functions]


def prepare(target: Target, timeout: float, workdir: Path, env: dict) -> tuple[Path, Path]:
    """A cosmic-ray session for ``target`` with the operator, pragma and line filters applied."""
    cfg = workdir / "cr.toml"
    db = workdir / "cr.sqlite"
    text = ("[cosmic-ray]\n"
            f'module-path = "{target.module}"\n'
            f"timeout = {timeout}\n"
            "excluded-modules = []\n"
            f'test-command = "{test_command(target)}"\n'
            '[cosmic-ray.distributor]\nname = "local"\n'
            "[cosmic-ray.filters.operators-filter]\n"
            f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n")
    if target.functions:
        text += ("[cosmic-ray.filters.line-filter.lines]\n"
                 f'"{target.module}" = {json.dumps(line_ranges(target.module, target.functions))}\n')
    cfg.write_text(text)
    subprocess.run(["cosmic-ray", "init", str(cfg), str(db)], cwd=ROOT, env=env, check=True)
    subprocess.run(["cr-filter-operators", str(db), str(cfg)], cwd=ROOT, env=env, check=True)
    subprocess.run(["cr-filter-pragma", str(db)], cwd=ROOT, env=env, check=True)
    if target.functions:
        subprocess.run(["cr-filter-lines", "--config", str(cfg), str(db)], cwd=ROOT, env=env, check=True)
    return cfg, db


def count_mutants(target: Target, workdir: Path) -> int:
    """How many mutants a run of ``target`` would test (nothing is mutated)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    _, db = prepare(target, 1.0, workdir, env)
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM work_items WHERE job_id NOT IN "
                           "(SELECT job_id FROM work_results)").fetchone()[0]


def run_target(target: Target, timeout: float, workdir: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cfg, db = prepare(target, timeout, workdir, env)
    subprocess.run(["cosmic-ray", "exec", str(cfg), str(db)], cwd=ROOT, env=env, check=True)
    dump = subprocess.run(["cosmic-ray", "dump", str(db)], cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True).stdout
    mutants = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None or result.get("worker_outcome", "").lower() == "skipped":  # left out by a filter
            continue
        for m in item["mutations"]:
            mutants.append({"module": target.module, "operator": m["operator_name"], "occurrence": m["occurrence"],
                            "line": m["start_pos"][0],
                            "outcome": (result["test_outcome"] or result["worker_outcome"]).lower(),
                            "diff": result.get("diff") or ""})
    return mutants


def test_command(target: Target) -> str:
    return f"{PY} -m pytest -x -q -p no:cacheprovider -p no:randomly {target.tests}"


def recheck_survivors(target: Target, mutants: list[dict], timeout: float) -> list[dict]:
    """The module's recorded survivors (not explained) run again against the current tests, one at a time: the
    same operator and occurrence applied to the module as it is now (`cosmic-ray apply`, so a line edited since
    the run is mutated as it reads today; the recorded diff and line are updated), the same focused tests, the
    module restored from git. A survivor the tests now fail on becomes killed, noted ``rechecked`` with the
    date; the killed mutants of the run are not re-run (the tests were added to, not weakened: say so in the
    commit). Only for edits that leave each operator's occurrences in the same order; else run the module
    again."""
    why = explanations()
    out = []
    for m in mutants:
        if m["module"] != target.module or m["outcome"] == "killed" or \
                (m["module"], m["operator"], m["occurrence"]) in why:
            out.append(m)
            continue
        subprocess.run(["cosmic-ray", "apply", target.module, m["operator"], str(m["occurrence"])], cwd=ROOT,
                       check=True)
        now = subprocess.run(["git", "diff", "-U0", "--", target.module], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout
        edited = re.compile(r"(?m)^[-+](?![-+]).*$")  # the removed and added lines, not the file headers
        if set(edited.findall(now)) != set(edited.findall(m["diff"])):
            print(f"{target.module} {m['operator']} #{m['occurrence']}: the mutated line reads differently now:\n"
                  f"{now}")
        hunk = re.search(r"(?m)^@@ -(\d+)", now)
        m = {**m, "diff": now, "line": int(hunk.group(1)) if hunk else m["line"]}
        try:
            proc = subprocess.run(test_command(target), shell=True, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
            killed = proc.returncode != 0
        except subprocess.TimeoutExpired:
            killed = True  # as cosmic-ray counts a timeout
        finally:
            subprocess.run(["git", "checkout", "--", target.module], cwd=ROOT, check=True)
        print(f"{target.module} line {m['line']} {m['operator']} #{m['occurrence']}: "
              f"{'killed' if killed else 'survived'}")
        out.append({**m, "outcome": "killed", "rechecked": date.today().isoformat()} if killed else m)
    return out


def explanations() -> dict[tuple[str, str, int], str]:
    path = Path(__file__).with_name("equivalent.toml")
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {(e["module"], e["operator"], e["occurrence"]): e["why"] for e in data.get("equivalent", [])}


def report(runs: dict[str, dict], mutants: list[dict]) -> str:
    why = explanations()
    lines = ["# Mutation testing report", "",
             "Generated by `make mutation` (tests/mutation/run.py, cosmic-ray); each module's row comes from its",
             "last complete run (`--only MODULE` re-runs one). A mutant is *killed* when the module's focused tests",
             "fail on it. Survivors are listed with the reason no test can tell them apart, or why telling them",
             "apart is not specified behaviour (tests/mutation/equivalent.toml); unexplained survivors are bugs",
             "in the tests.", "",
             "| module | tests | mutated | run on | minutes | mutants | killed | survived, explained | "
             "survived, unexplained | score |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for target in TARGETS:
        ms = [m for m in mutants if m["module"] == target.module]
        run = runs.get(target.module)
        if not run:
            continue
        killed = [m for m in ms if m["outcome"] == "killed"]
        surv = [m for m in ms if m["outcome"] != "killed"]
        explained = [m for m in surv if (m["module"], m["operator"], m["occurrence"]) in why]
        scope = ", ".join(f"`{f}`" for f in run["functions"]) if run["functions"] else "whole module"
        if run.get("rechecked"):
            rechecked = sum(1 for m in ms if m.get("rechecked"))
            scope += f" ({rechecked} survivors killed by tests added after the run, rechecked {run['rechecked']})"
        lines.append(f"| `{target.module}` | `{run['tests']}` | {scope} | {run['date']} | {run['minutes']:.0f} | "
                     f"{len(ms)} | {len(killed)} | {len(explained)} | {len(surv) - len(explained)} | "
                     f"{len(killed) / max(len(ms), 1):.1%} |")
    total = len(mutants)
    killed = sum(m["outcome"] == "killed" for m in mutants)
    explained = sum(m["outcome"] != "killed" and (m["module"], m["operator"], m["occurrence"]) in why
                    for m in mutants)
    lines += ["", f"Overall: {killed} of {total} mutants killed ({killed / max(total, 1):.1%}); "
                  f"{explained} survivors explained, {total - killed - explained} unexplained; killed or explained: "
                  f"{(killed + explained) / max(total, 1):.1%}.", "",
              "Operators: one representative replacement per operator family (EXCLUDED_OPERATORS in run.py).",
              "", "## Survivors", ""]
    for m in sorted(mutants, key=lambda m: ([t.module for t in TARGETS].index(m["module"]), m["line"],
                                            m["operator"], m["occurrence"])):
        if m["outcome"] == "killed":
            continue
        reason = why.get((m["module"], m["operator"], m["occurrence"]), "**unexplained**")
        outcome = "" if m["outcome"] == "survived" else f" ({m['outcome']})"
        lines += [f"- `{m['module']}` line {m['line']}, {m['operator']} #{m['occurrence']}{outcome}: {reason}",
                  "", "  ```diff", *("  " + d for d in m["diff"].splitlines() if d.startswith(("+", "-"))
                                       and not d.startswith(("+++", "---"))), "  ```", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="Only this module (repeatable); the others keep their "
                                                        "last results.")
    parser.add_argument("--timeout", type=float, default=600.0, help="Per-mutant test timeout (a safety net).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "mutation-report.md")
    parser.add_argument("--report-only", action="store_true",
                        help="Rewrite the report from the last results (after editing equivalent.toml).")
    parser.add_argument("--count", action="store_true", help="Only count each target's mutants (to size a run).")
    parser.add_argument("--recheck-survivors", action="store_true",
                        help="With --only: run the recorded unexplained survivors again against the current tests "
                             "(after adding tests that kill them), instead of a whole new run.")
    args = parser.parse_args()
    known = {t.module for t in TARGETS}
    unknown = set(args.only or []) - known
    if unknown:
        parser.error(f"not a target: {', '.join(sorted(unknown))} (targets: {', '.join(sorted(known))})")
    if args.count:
        for target in TARGETS:
            if not args.only or target.module in args.only:
                with tempfile.TemporaryDirectory(prefix="hubtool-mutation-") as tmp:
                    print(f"{count_mutants(target, Path(tmp)):5d}  {target.module}")
        return
    results = args.out.with_suffix(".json")
    previous = json.loads(results.read_text()) if results.exists() else {"runs": {}, "mutants": []}
    runs = {k: v for k, v in previous["runs"].items() if k in known}
    mutants = [m for m in previous["mutants"] if m["module"] in known]
    todo = [t for t in TARGETS if not args.report_only and (not args.only or t.module in args.only)]
    dirty = [t.module for t in todo
             if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", t.module], cwd=ROOT).returncode]
    if dirty:  # the run restores each module from git: uncommitted edits would be lost
        parser.error(f"commit or stash your changes to {', '.join(dirty)} first")
    if args.recheck_survivors:
        if not args.only:
            parser.error("--recheck-survivors needs --only MODULE")
        for target in todo:
            mutants = recheck_survivors(target, mutants, args.timeout)
            runs[target.module]["rechecked"] = date.today().isoformat()
        todo = []
    for target in todo:
        start = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="hubtool-mutation-") as tmp:
                new = run_target(target, args.timeout, Path(tmp))
        finally:  # an interrupted run must not leave a mutant on disk
            subprocess.run(["git", "checkout", "--", target.module], cwd=ROOT, check=True)
        mutants = [m for m in mutants if m["module"] != target.module] + new
        runs[target.module] = {"tests": target.tests, "functions": list(target.functions),
                               "minutes": (time.monotonic() - start) / 60, "date": date.today().isoformat()}
        results.write_text(json.dumps({"runs": runs, "mutants": mutants}, indent=1) + "\n")  # progress survives
    args.out.write_text(report(runs, mutants))
    results.write_text(json.dumps({"runs": runs, "mutants": mutants}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
