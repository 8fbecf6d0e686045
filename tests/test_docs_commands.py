"""Every command in README.md and docs/*.md is checked against the code, and either runs in a test on the
local hub with tiny data or is marked as GPU / cluster / huggingface.co only (docs/doc-commands.md).

What fails here when a doc drifts:
- a `hubtool` command, option or required argument that the CLI no longer has (each command is parsed by
  click's own parser, `make_context`, without being invoked; marked commands too);
- a repo path (recipes/..., examples/...) that does not exist, a `make` target the Makefile lacks, a
  `python -m` module that does not import, a GPU/cluster train command naming a variant its config lacks;
- an unmarked command that nothing runs: each one is either run by a test of this file (on the session's
  local hub, in a temporary folder holding a copy of the checkout's data) or listed in COVERED with the
  test that runs it and the strings that test must contain, so deleting or changing that test fails here;
- a COVERED entry or a scenario command that the docs no longer contain.

Placeholders, and what the runs here put in their place:
  ORG/NAME, hitz/eu-corpus  -> a fresh repo of org `hitz` on the local hub
  FOLDER, artifacts/corpus  -> out/corpus-sample, the folder the documented corpus command writes
  OLD, NEW                  -> that repo at tag v1.0, and out/eu
  out/..., results/..., ... -> paths inside the temporary folder (the commands run there)
  ~                         -> a temporary home
For the parse check, an argument of an existing-path option that is not a repo path is created in a
temporary folder first (the reader supplies it); a repo path must exist in the checkout.
"""
from __future__ import annotations

import ast
import contextlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from doc_commands import (
    DOCS,
    MARKERS,
    ROOT,
    SHELL_FENCES,
    DocCommand,
    collect,
    fence_commands,
    fences,
    shell_words,
)

from hub_tools.cli import main

TESTS = ROOT / "tests"


def command_path_len(words: list[str]) -> int:
    """How many leading words of `hubtool ...` name its command, by the CLI's own tree."""
    cmd, n = main, 1
    while isinstance(cmd, click.Group) and n < len(words) and words[n] in cmd.commands:
        cmd, n = cmd.commands[words[n]], n + 1
    return n


COMMANDS = collect(command_path_len)
TEXTS = {c.text for c in COMMANDS}
UNMARKED = {c.text for c in COMMANDS if not c.markers}


def _tracked_top_level() -> set[str]:
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return {line.split("/")[0] for line in files.splitlines() if line}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what the repo ships
        return {"recipes", "examples", "docs", "tests", "hub_tools", "space", "cards", "benchmarks", "Makefile",
                "pyproject.toml", "README.md"}


TRACKED = _tracked_top_level()


def is_repo_path(word: str) -> bool:
    return not word.startswith(("-", "/", "~", "$")) and "://" not in word and word.split("/")[0] in TRACKED \
        and "/" in word


# --- what runs each command ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cover:
    """A test elsewhere that runs the command: `node` must exist and its source (with the fixtures and
    helpers of its module, conftest.py and tests/ modules it uses) must contain every one of `mentions`."""
    node: str
    mentions: tuple[str, ...]


def cover(node: str, *mentions: str) -> Cover:
    return Cover(node, mentions)


QUICKSTART = "tests/test_quickstart.py::test_quickstart_builds_with_recipes_releases_verifies_and_rebuilds_identically"
QUICKSTART_DOCS = "tests/test_quickstart.py::test_the_docs_commands_run_on_the_published_quickstart"
LOCALHUB_ENV = "tests/test_localhub_security.py::test_admin_token_from_the_environment_and_refused_on_argv"
INSIGHT = "tests/test_release_insight.py::"
QUICKSTART_DIFF = "tests/test_quickstart_diff.py::"
EVALUATE = "tests/test_evaluate_recipe.py::"

COVERED: dict[str, Cover] = {
    # README
    "make quickstart": cover(QUICKSTART, '"quickstart"'),  # the target runs `hubtool quickstart` (checked below)
    "make test": cover("tests/test_docs.py::test_readme_opens_with_the_two_commands", "make test", ".ci"),
    "export HF_ENDPOINT=http://127.0.0.1:PORT HF_HUB_DISABLE_XET=1 HF_TOKEN=$(cat ~/.cache/hubtool/localhub/admin-token)":
        cover(QUICKSTART_DOCS, "Use the local hub from your own scripts", "PORT", "admin-token"),
    "python -c \"import datasets; datasets.config.USE_PARQUET_EXPORT = False; print(datasets.load_dataset("
    "'hubtool-demo/basque-sample-corpus', revision='v1.0'))\"":
        cover(QUICKSTART_DOCS, "Use the local hub from your own scripts", "num_rows"),
    "hubtool quickstart": cover(QUICKSTART, '"quickstart"'),
    "hubtool quickstart --serve": cover("tests/test_quickstart.py::test_serve_leaves_the_hub_and_the_space_running_and_"
                                        "prints_their_urls", '"quickstart"', '"--serve"'),
    "hubtool build release.yaml": cover("tests/test_build.py::test_a_failed_stage_is_named_and_the_next_run_resumes_there",
                                        '"build"', "release.yaml"),
    "hubtool validate release.yaml": cover("tests/test_validate.py::test_good_release_passes", '"validate"', "release.yaml"),
    "hubtool adopt FOLDER --kind adapter": cover("tests/test_adopt.py::test_a_foreign_adapter_is_checked_fully_then_adopted",
                                                 '"adopt"', '"--kind", "adapter"'),
    "hubtool card release.yaml": cover("tests/test_cards.py::test_dataset_card_round_trips_and_matches_the_data",
                                       '"card"', "release.yaml"),
    "hubtool release release.yaml": cover("tests/test_release.py::test_release_verify_and_rerun_changes_nothing",
                                          '"release"', "manifest_path"),
    "hubtool release release.yaml --build": cover("tests/test_build.py::test_release_build_builds_then_publishes_and_a_"
                                                  "rebuild_elsewhere_changes_nothing", '"release"', '"--build"'),
    "hubtool verify release.yaml": cover("tests/test_release.py::test_release_verify_and_rerun_changes_nothing",
                                         '"verify"', "manifest_path"),
    "hubtool recipe synth --config recipes/configs/synth/tiny-magpie.yaml": cover(QUICKSTART_DOCS, "tiny-magpie.yaml"),
    "hubtool recipe train --config recipes/configs/train/tiny.yaml": cover(
        "tests/test_train_recipe.py::test_two_variants_train_reload_and_generate_from_folder_and_hub",
        '"train" / "tiny.yaml"', "train_variant"),
    "hubtool recipe evaluate": cover(EVALUATE + "test_cli_writes_results_that_cards_turn_into_model_index",
                                     '"recipe", "evaluate"'),
    "hubtool recipe lm-eval": cover(EVALUATE + "test_lm_eval_runs_the_bundled_group_on_cpu_and_its_results_reach_the_card",
                                    '"recipe", "lm-eval"'),
    "hubtool recipe import-lm-eval": cover(EVALUATE + "test_a_directory_of_real_harness_results_imports_in_one_call",
                                           '"recipe", "import-lm-eval"'),
    "hubtool recipe preferences --votes votes.sqlite --out DIR --name NAME": cover(
        "tests/test_preferences.py::test_cli_builds_from_sqlite_with_the_salt_from_the_environment",
        '"recipe", "preferences", "--votes"', '"votes.sqlite"', '"--name"', '"--out"'),
    "hubtool space run": cover("tests/test_space_browser.py::test_browser_sends_a_chat_message_and_sees_the_streamed_answer",
                               '"space", "run"'),
    "hubtool space deploy --repo ORG/NAME": cover(
        "tests/test_space_deploy.py::test_the_deployed_folder_builds_its_app_without_hubtool", '"--repo"', "_deploy"),
    "hubtool space loadtest URL": cover("tests/test_space_load.py::test_fifty_voters_cast_a_thousand_votes_and_each_is_"
                                        "exported_once", "run_load"),
    "hubtool serve-model --model M": cover(QUICKSTART_DOCS, "hubtool serve-model --model"),
    "hubtool serve-model --model M --adapter A": cover(QUICKSTART_DOCS, "hubtool serve-model --model", "--adapter {"),
    "hubtool hub serve": cover(LOCALHUB_ENV, '"hub", "serve"'),
    # docs/corpus-recipe.md
    "hubtool recipe corpus --config recipes/configs/corpus/eval-real-text.yaml": cover(
        "tests/test_corpus_eval.py::test_clean_basque_is_kept_and_the_rest_dropped", "eval-real-text.yaml", "run_corpus"),
    "hubtool recipe corpus-thresholds --sample clean-text.jsonl.gz --language gl --output gl.json": cover(
        "tests/test_corpus_inputs.py::test_the_thresholds_command_derives_a_profile_that_the_recipe_uses",
        '"recipe", "corpus-thresholds", "--sample"', '"--language"', '"--output"'),
    # docs/diff.md: releases with a manifest (releases of the quickstart; a local release: tests/insight_releases.py)
    "hubtool diff v1.0 v1.1 --manifest release.yaml": cover(
        QUICKSTART_DIFF + "test_identical_releases_report_no_change", '"diff", "v1.0", "v1.1", "--manifest"'),
    "hubtool diff v1.0 v1.1 --manifest release/release.yaml": cover(
        QUICKSTART_DIFF + "test_identical_releases_report_no_change", '"diff", "v1.0", "v1.1", "--manifest"'),
    "hubtool diff v1.1 v2.0 --manifest release/release.yaml --show-rows 3": cover(
        QUICKSTART_DIFF + "test_diff_reports_the_added_rows_the_added_source_and_the_recomputed_scores",
        '"diff", "v1.1", "v2.0", "--manifest"', '"--show-rows"'),
    "hubtool diff v1.0 release.yaml": cover(
        INSIGHT + "test_a_local_release_against_its_published_tag_labels_changes_beyond_and_within_error",
        '"diff", "v2.0", copy / "release.yaml"'),
    # docs/local-hub.md
    "hubtool hub serve --port 8760 --data-dir ./hub": cover(LOCALHUB_ENV, '"hub", "serve", "--port"', '"--data-dir"'),
    "hubtool hub serve --users-file users.yaml": cover(
        "tests/test_localhub_security.py::test_lfs_objects_readable_by_the_caller_are_not_uploaded_twice",
        '"--users-file"', "hub"),
    "HUBTOOL_HUB_TOKEN=$(cat ~/.hub-token) hubtool hub serve": cover(LOCALHUB_ENV, "TOKEN_ENV", '"hub", "serve"'),
    "hubtool hub serve --token-file ~/.hub-token": cover(
        "tests/test_localhub_security.py::test_data_dir_is_private_and_tokens_stay_off_the_command_line",
        '"--token-file"', "start_background"),
    # docs/space.md
    "hubtool space deploy --repo hitz/latxa-demo --votes-repo hitz/latxa-arena-votes --model-endpoint "
    "https://vllm.example.org/v1": cover(
        "tests/test_space_deploy.py::test_deploy_uploads_the_app_with_metadata_requirements_and_variables",
        '"--votes-repo"', '"--model-endpoint"'),
    "hubtool space loadtest http://127.0.0.1:7860 --voters 50 --votes 1000 --json": cover(
        "tests/test_space_load.py::test_fifty_voters_cast_a_thousand_votes_and_each_is_exported_once",
        "run_load", "voters=50", "votes=1000"),
    # docs/synthetic-instructions.md: the tiny configs read the models the quickstart publishes
    "hubtool recipe synth --config recipes/configs/synth/tiny-translate.yaml": cover(QUICKSTART_DOCS, "tiny-translate.yaml"),
    "hubtool recipe synth --config recipes/configs/synth/tiny-backtranslate.yaml":
        cover(QUICKSTART_DOCS, "tiny-backtranslate.yaml"),
    "hubtool serve-model --model hubtool-demo/tiny-llama-eu --revision v1.0 --port 8000":
        cover(QUICKSTART_DOCS, "hubtool serve-model --model hubtool-demo/tiny-llama-eu --revision v1.0 --port 8000"),
    "hubtool recipe synth --config recipes/configs/synth/tiny-magpie.yaml --endpoint-url http://127.0.0.1:8000":
        cover(QUICKSTART_DOCS, "tiny-magpie.yaml", "--endpoint-url", "8000"),
    # docs/train-and-evaluate.md
    "hubtool recipe lm-eval --model out/train-tiny/tiny-base --model-name hubtool-demo/tiny-llama-eu --tasks hubtool_eu "
    "--output-dir harness/tiny --out results/tiny.json": cover(
        EVALUATE + "test_lm_eval_runs_the_bundled_group_on_cpu_and_its_results_reach_the_card",
        '"recipe", "lm-eval"', '"--model-name"', '"--tasks", "hubtool_eu"', '"--output-dir"', '"--out"'),
}

# Commands this file runs itself, in this order, each in its scenario's temporary folder.
CORPUS_WALKTHROUGH = [
    "hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml",
    "hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml --workers 2 --output out/eu",
    "hubtool validate out/corpus-sample",
    "hubtool card out/corpus-sample --repo ORG/NAME",
    "hubtool validate FOLDER",
    "hubtool card FOLDER",
    "hubtool push FOLDER --repo ORG/NAME",
]
CORPUS_DIFFS = [  # after the walkthrough's repo is tagged v1.0 and out/eu is pushed to it as v1.1
    "hubtool diff datasets/hitz/eu-corpus@v1.0 datasets/hitz/eu-corpus@v1.1",
    "hubtool diff datasets/hitz/eu-corpus@v1.0 v1.1",
    "hubtool diff datasets/hitz/eu-corpus@v1.0 artifacts/corpus --json",
    "hubtool diff OLD NEW",
]
LOCAL_HUB = ["hubtool hub start --json", "hubtool hub start", "hubtool hub status", "hubtool hub stop"]
SPACE_DRY_RUN = ["hubtool space deploy --repo hitz/latxa-demo --votes-repo hitz/latxa-arena-votes --dry-run"]
RUN_HERE = {text: scenario for scenario, texts in (("corpus", CORPUS_WALKTHROUGH + CORPUS_DIFFS),
                                                   ("local hub", LOCAL_HUB), ("space", SPACE_DRY_RUN))
            for text in texts}


# --- the convention ---------------------------------------------------------------------------------------

def test_fences_use_the_documented_languages_and_markers():
    """Shell fences carry only known markers; an unlabelled fence shows no `$ ` prompt (it would be a
    console session the collector skips)."""
    problems = []
    for doc in DOCS:
        for line, info, body in fences(doc):
            words = info.split()
            where = f"{doc.relative_to(ROOT)}:{line}"
            if words and words[0] in SHELL_FENCES:
                unknown = set(words[1:]) - set(MARKERS)
                if unknown:
                    problems.append(f"{where}: unknown marker(s) {sorted(unknown)}; known: {sorted(MARKERS)}")
            elif not words and any(b.startswith("$ ") for b in body):
                problems.append(f"{where}: a `$ ` prompt in an unlabelled fence: label it ```console")
    assert problems == []
    documented = (ROOT / "docs" / "doc-commands.md").read_text()
    assert all(f"```bash {m}" in documented for m in MARKERS)


def test_the_collector_reads_what_a_reader_types():
    """The parser itself: continuations, comments, `&&`, background `&`, console prompts, the table's shorthand."""
    from doc_commands import cut_comment, split_commands

    assert cut_comment('python -c "a # b"  # c') == 'python -c "a # b"'
    assert cut_comment("HUBTOOL_HUB_TOKEN=$(cat ~/x) hubtool hub serve   # env") == \
        "HUBTOOL_HUB_TOKEN=$(cat ~/x) hubtool hub serve"
    assert split_commands("a && b; c &") == [("a", False), ("b", False), ("c", True)]
    assert split_commands("python -c 'x; y' && z") == [("python -c 'x; y'", False), ("z", False)]
    by_text = {c.text: c for c in COMMANDS}
    assert by_text["hubtool serve-model --model hubtool-demo/tiny-llama-eu --revision v1.0 --port 8000"].background
    assert "hubtool diff v1.1 v2.0 --manifest release/release.yaml --show-rows 3" in by_text  # a ```console prompt
    assert {"hubtool validate release.yaml", "hubtool validate FOLDER", "hubtool quickstart --serve",
            "hubtool space loadtest URL", "hubtool hub stop", "hubtool recipe import-lm-eval"} <= TEXTS
    assert by_text["HUBTOOL_HUB_TOKEN=$(cat ~/.hub-token) hubtool hub serve"].argv == ["hubtool", "hub", "serve"]
    assert any(c.markers == {"gpu"} for c in COMMANDS) and any(c.markers == {"cluster"} for c in COMMANDS)


# --- every command matches the code -----------------------------------------------------------------------

def _sandbox_with_checkout(tmp: Path) -> Path:
    """A folder where the checkout's tracked top-level entries are links: repo paths resolve, nothing the
    check creates lands in the checkout."""
    for name in TRACKED:
        (tmp / name).symlink_to(ROOT / name)
    (tmp / "home").mkdir()
    return tmp


def _expand_home(word: str, home: Path) -> str:
    return str(home) + word[1:] if word == "~" or word.startswith("~/") else word


def _create_placeholders(cmd: click.Command, ctx: click.Context, args: list[str], sandbox: Path) -> None:
    """Arguments of existing-path parameters that the reader supplies (not repo paths) are created."""
    opts, _, _ = cmd.make_parser(click.Context(cmd, parent=ctx, info_name=cmd.name)).parse_args(list(args))
    for param in cmd.params:
        if not (isinstance(param.type, click.Path) and param.type.exists) or opts.get(param.name) is None:
            continue
        values = opts[param.name] if isinstance(opts[param.name], (list, tuple)) else [opts[param.name]]
        for value in (v for v in values if isinstance(v, str)):  # not given: click's UNSET
            if is_repo_path(value):
                continue
            path = Path(value) if Path(value).is_absolute() else sandbox / value
            if sandbox not in path.parents:
                continue
            if not param.type.file_okay or (param.type.dir_okay and not path.suffix):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()


def parse_hubtool(command: DocCommand, sandbox: Path) -> tuple[str, ...]:
    """Parse a documented `hubtool` command with click's own parser (make_context), invoking nothing.
    Raises click's error for an unknown command or option, a missing value or required parameter, a bad
    choice or number, or a repo path that does not exist. A table cell that names only a command (no
    arguments) is a reference to it: its required parameters are not asked for."""
    args = [_expand_home(w, sandbox / "home") for w in command.argv[1:]]
    ctx = main.make_context("hubtool", args)
    rest = [*ctx._protected_args, *ctx.args]  # what click's Group.invoke hands on
    cmd: click.Command = main
    path: list[str] = []
    with contextlib.chdir(sandbox):
        while isinstance(cmd, click.Group):
            name, sub, rest = cmd.resolve_command(ctx, rest)
            path.append(name)
            if isinstance(sub, click.Group):
                ctx = sub.make_context(name, rest, parent=ctx)
                rest = [*ctx._protected_args, *ctx.args]
            else:
                _create_placeholders(sub, ctx, rest, sandbox)
                try:
                    sub.make_context(name, rest, parent=ctx)
                except click.MissingParameter:
                    if not (command.origin == "table" and not rest):
                        raise
            cmd = sub
    return tuple(path)


HUBTOOL_COMMANDS = sorted({c.text: c for c in COMMANDS if c.program == "hubtool"}.values(), key=lambda c: c.where)


@pytest.mark.parametrize("command", HUBTOOL_COMMANDS, ids=lambda c: f"{c.where} {c.text[:70]}")
def test_hubtool_command_parses_with_the_cli(command, tmp_path):
    try:
        path = parse_hubtool(command, _sandbox_with_checkout(tmp_path))
    except click.ClickException as err:
        pytest.fail(f"{command.where}: `{command.text}` does not parse: {err.format_message()}")
    assert path, command.text


def test_inline_hubtool_commands_in_the_prose_name_real_commands_and_options():
    """`hubtool ...` in running text (not run: fragments such as `hubtool validate out/synth/...`) still
    names commands and options that exist, with no surplus arguments (the --help examples' checker)."""
    from test_cli_help import resolve

    checked, problems = 0, []
    for doc in DOCS:
        text = doc.read_text()
        for match in re.finditer(r"(?<!`)`(hubtool [^`]+)`(?!`)", text):
            span = " ".join(match.group(1).split())
            if "..." in span or "\\|" in span or " / " in span:  # a fragment, or the table's shorthand
                continue
            for part in re.split(r"\s*&&\s*", re.sub(r"\[([^\]]*)\]", r"\1", span)):
                try:
                    resolve(part)
                    checked += 1
                except AssertionError as err:
                    problems.append(f"{doc.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}: {err}")
    assert problems == [] and checked >= 20, problems


def test_repo_paths_in_commands_exist():
    missing = [f"{c.where}: {w}" for c in COMMANDS for word in c.words for w in [word.split("=", 1)[-1]]
               if is_repo_path(w) and not (ROOT / w).exists()]
    assert missing == []


def _make_targets() -> dict[str, list[str]]:
    targets, current = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+):(?!=)", line)
        if match:
            current = targets.setdefault(match.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip())
    return targets


def _module_exists(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_other_programs_name_what_exists():
    """make targets exist (and `make quickstart` runs `hubtool quickstart`, which its covering test runs);
    `python -m` modules import; every program is one the convention knows."""
    targets = _make_targets()
    known = {"hubtool", "make", "python", "export", "hf", "accelerate", "sbatch"}
    problems = []
    for c in COMMANDS:
        argv = c.argv
        if c.program == "make":
            problems += [f"{c.where}: no make target {t}" for t in argv[1:] if t not in targets]
        elif c.program == "python" and argv[1] == "-m" and not _module_exists(argv[2]):
            problems.append(f"{c.where}: no module {argv[2]}")
        elif c.program == "accelerate" and not _module_exists(argv[argv.index("-m") + 1]):
            problems.append(f"{c.where}: no module {argv[argv.index('-m') + 1]}")
        elif c.program not in known and not c.program.endswith("/bin/pip"):
            problems.append(f"{c.where}: unknown program {c.program!r}")
    assert problems == []
    assert targets["quickstart"] == ["$(BIN)/hubtool quickstart"]


def _train_options() -> tuple[set[str], set[str]]:
    """The options of `python -m recipes.train` (all, required), read from its argparse calls."""
    tree = ast.parse((ROOT / "recipes" / "train" / "__main__.py").read_text())
    options, required = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            names = {a.value for a in node.args if isinstance(a, ast.Constant)}
            options |= names
            if any(k.arg == "required" and getattr(k.value, "value", False) for k in node.keywords):
                required |= names
    return options, required


def _variants(config: str) -> set[str]:
    result = CliRunner().invoke(main, ["recipe", "train", "--config", str(ROOT / config), "--list"])
    assert result.exit_code == 0, result.output
    return {line.split()[0] for line in result.output.splitlines() if line.startswith("exp_")}


def test_gpu_and_cluster_train_commands_name_a_variant_of_their_config():
    """The half of a GPU/cluster training command that runs here: accelerate accepts its arguments, the
    training module has its options, and the variant is one of the config's grid."""
    from accelerate.commands.launch import launch_command_parser

    options, required = _train_options()
    checked = 0
    for c in COMMANDS:
        argv = c.argv
        if c.program == "accelerate":
            launch = launch_command_parser().parse_args(argv[2:])
            assert launch.module and launch.training_script == "recipes.train", c.where
            train_args = launch.training_script_args
            used = {a for a in train_args if a.startswith("--")}
            assert used <= options and required <= used, (c.where, used, options)
            config = train_args[train_args.index("--config") + 1]
            variant = train_args[train_args.index("--variant") + 1]
        elif c.program == "sbatch":
            script = ROOT / argv[2]
            assert "${1:?train config}" in script.read_text() and "${2:?variant" in script.read_text(), c.where
            config, variant = argv[3], argv[4]
        else:
            continue
        assert c.markers & {"gpu", "cluster"}, f"{c.where}: mark it ```bash gpu or ```bash cluster"
        assert variant in _variants(config), f"{c.where}: {variant} is not a variant of {config}"
        checked += 1
    assert checked >= 2


# --- every unmarked command is run, here or by a named test -------------------------------------------------

def test_every_unmarked_command_is_run_or_covered():
    missing = sorted({f"{c.where}: {c.text}" for c in COMMANDS
                      if not c.markers and c.text not in COVERED and c.text not in RUN_HERE})
    assert missing == [], ("run each in a test (RUN_HERE), name the test that runs it (COVERED), or mark its "
                           "fence (docs/doc-commands.md):\n" + "\n".join(missing))


def test_no_entry_names_a_command_the_docs_lost():
    stale = sorted(t for t in [*COVERED, *RUN_HERE] if t not in TEXTS)
    assert stale == [], "no longer in README.md or docs/: " + "; ".join(stale)
    assert not set(COVERED) & set(RUN_HERE)


def _definitions(path: Path) -> dict[str, str]:
    """Module-level functions, classes and assignments of a file, by name, with their source."""
    text = path.read_text()
    out = {}
    for node in ast.parse(text).body:
        names = [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else \
            [t.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)]
        for name in names:
            out[name] = ast.get_source_segment(text, node)
    return out


def _helper_modules(path: Path) -> list[Path]:
    """tests/ modules the file imports from (`from space_helpers import serving`)."""
    tree = ast.parse(path.read_text())
    return [TESTS / f"{n.module}.py" for n in tree.body
            if isinstance(n, ast.ImportFrom) and n.module and (TESTS / f"{n.module}.py").exists()]


def covering_source(node: str) -> str:
    """The test function's source and, transitively, every definition of its module, conftest.py and the
    tests/ modules it imports that the source names (fixtures, helpers, constants)."""
    file, name = node.split("::")
    path = ROOT / file
    scope = {**_definitions(TESTS / "conftest.py")}
    for helper in _helper_modules(path):
        scope.update(_definitions(helper))
    scope.update(_definitions(path))
    assert name in scope and name.startswith("test_"), f"{node}: no such test"
    seen, todo, parts = set(), [name], []
    while todo:
        current = todo.pop()
        if current in seen or current not in scope:
            continue
        seen.add(current)
        parts.append(scope[current])
        todo += [n.id for n in ast.walk(ast.parse(textwrap_dedent(scope[current]))) if isinstance(n, ast.Name)]
        todo += [a.arg for n in ast.walk(ast.parse(textwrap_dedent(scope[current])))
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for a in n.args.args]
    return "\n".join(parts)


def textwrap_dedent(source: str) -> str:
    import textwrap

    return textwrap.dedent(source)


@pytest.mark.parametrize("text", sorted(COVERED), ids=lambda t: t[:80])
def test_the_covering_test_exists_and_runs_the_command(text):
    entry = COVERED[text]
    source = covering_source(entry.node)
    absent = [m for m in entry.mentions if m not in source]
    assert absent == [], f"{entry.node} no longer contains {absent}: does it still run `{text}`?"


# --- the commands this file runs -------------------------------------------------------------------------------

def _substitute(text: str, subs: dict[str, str]) -> str:
    for old, new in subs.items():
        text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)
    return text


def _checkout_data(tmp: Path) -> Path:
    """A temporary folder with a copy of the checkout's recipe data and examples (configs write their
    default outputs to out/ next to recipes/, as in a checkout)."""
    ignore = shutil.ignore_patterns("*.py", "__pycache__")
    shutil.copytree(ROOT / "recipes", tmp / "recipes", ignore=ignore)
    shutil.copytree(ROOT / "examples", tmp / "examples")
    return tmp


def run_doc(text: str, folder: Path, subs: dict[str, str] | None = None, env: dict | None = None):
    """Run one documented command (after substitution) in `folder`, in this process."""
    assert text in TEXTS, f"`{text}` is not in the docs"
    words = shell_words(_substitute(text, subs or {}))
    assert words[0] == "hubtool"
    with contextlib.chdir(folder):
        result = CliRunner(env=env).invoke(main, words[1:])
    assert result.exit_code == 0, f"`{text}` exited {result.exit_code}:\n{result.output[-3000:]}"
    return result


def test_the_corpus_walkthrough_runs_on_the_local_hub(hub, api, repo_name, tmp_path):
    """docs/corpus-recipe.md, the README's validate/card/push rows and docs/diff.md's single-artifact diffs."""
    folder = _checkout_data(tmp_path)
    repo = f"hitz/{repo_name}"
    subs = {"ORG/NAME": repo, "FOLDER": "out/corpus-sample", "hitz/eu-corpus": repo,
            "artifacts/corpus": "out/corpus-sample", "OLD": f"datasets/{repo}@v1.0", "NEW": "out/eu"}
    for text in CORPUS_WALKTHROUGH[:4]:
        run_doc(text, folder, subs)
    sample = folder / "out" / "corpus-sample"  # where tiny.yaml writes, next to the checkout's recipes/
    assert json.loads((sample / "hubtool.json").read_text())["kind"] == "corpus"
    assert json.loads((folder / "out" / "eu" / "hubtool.json").read_text())["kind"] == "corpus"
    assert f'load_dataset("{repo}")' in (sample / "README.md").read_text()  # the card names --repo
    for text in CORPUS_WALKTHROUGH[4:]:
        run_doc(text, folder, subs)
    files = set(api.list_repo_files(repo, repo_type="dataset"))
    assert {"hubtool.json", "README.md"} <= files and any(f.startswith("data/") for f in files)

    api.create_tag(repo, tag="v1.0", repo_type="dataset")
    pushed = CliRunner().invoke(main, ["push", str(folder / "out" / "eu"), "--repo", repo])  # 2 workers, same rows
    assert pushed.exit_code == 0, pushed.output
    api.create_tag(repo, tag="v1.1", repo_type="dataset")
    for text in CORPUS_DIFFS[:2] + CORPUS_DIFFS[3:]:
        run_doc(text, folder, subs)
    out = json.loads(run_doc(CORPUS_DIFFS[2], folder, subs).stdout)
    assert out["changed"] is False  # the folder is what was pushed as v1.0


def test_the_local_hub_starts_reports_and_stops(tmp_path):
    """docs/local-hub.md's `hub start --json` and the README's start/status/stop, on a hub of their own."""
    env = {"HUBTOOL_HOME": str(tmp_path / "home")}
    try:
        started = json.loads(run_doc("hubtool hub start --json", tmp_path, env=env).stdout)
        assert started["running"] and started["state"] == "started"
        assert "already running" in run_doc("hubtool hub start", tmp_path, env=env).output
        status = run_doc("hubtool hub status", tmp_path, env=env).output
        assert started["url"] in status and f"export HF_ENDPOINT={started['url']} HF_HUB_DISABLE_XET=1" in status
    finally:
        stopped = run_doc("hubtool hub stop", tmp_path, env=env).output
    assert "stopped" in stopped
    down = CliRunner(env=env).invoke(main, ["hub", "status"])
    assert down.exit_code == 1 and "not running" in down.output


def test_the_space_deploy_dry_run_plans_and_changes_nothing(hub, api, tmp_path):
    result = run_doc(SPACE_DRY_RUN[0], tmp_path)
    assert "app.py" in result.output and "to upload" in result.output
    assert not api.repo_exists("hitz/latxa-demo", repo_type="space")


# --- snippets name what the quickstart publishes ------------------------------------------------------------

def _quickstart_publishes() -> tuple[set[str], set[str]]:
    """(repo ids, revisions) of recipes/quickstart/release.yaml: tags are the version and version-branch."""
    qs = yaml.safe_load((ROOT / "recipes" / "quickstart" / "release.yaml").read_text())
    repos = {f"{qs['namespace']}/{a['repo']}" for a in qs["artifacts"]}
    branches = {a["branch"] for a in qs["artifacts"] if a.get("branch")}
    return repos, {qs["version"], *branches, *(f"{qs['version']}-{b}" for b in branches)}


def test_readme_snippets_name_repos_and_revisions_the_quickstart_publishes():
    """The README's Python and shell snippets load `hubtool-demo/...` repos: each is a repo of the
    quickstart's release.yaml, at a revision it makes; the preferences config is one the recipe writes."""
    import datetime

    repos, revisions = _quickstart_publishes()
    text = (ROOT / "README.md").read_text()
    named = re.findall(r"""["'](hubtool-demo/[\w.-]+)["'](.*?)\)""", text)
    assert len(named) >= 5
    for repo, rest in named:
        assert repo in repos, f"README names {repo}, which recipes/quickstart/release.yaml does not publish"
        revision = re.search(r"""revision=["']([^"']+)""", rest)
        assert revision and revision.group(1) in revisions, (repo, rest)
    arena = yaml.safe_load((ROOT / "recipes" / "quickstart" / "configs" / "arena.yaml").read_text())
    period = datetime.datetime.fromisoformat(arena["simulated_start"]).strftime("%y-%m")
    assert f'"{period}-dpo"' in text  # the recipe names its views YY-MM-dpo (recipes/preferences/build.py)


# --- the checker catches drift ---------------------------------------------------------------------------------

@pytest.mark.parametrize("drifted, error", [
    ("hubtool recipe corpus --config recipes/configs/corpus/tiny.yaml --worker 2", click.NoSuchOption),
    ("hubtool recipe corpus --config recipes/configs/corpus/nope.yaml", click.BadParameter),
    ("hubtool recipe corpora --config recipes/configs/corpus/tiny.yaml", click.UsageError),
    ("hubtool push out/x", click.MissingParameter),
    ("hubtool adopt FOLDER --kind adaptor", click.BadParameter),
    ("hubtool hub stop extra", click.UsageError),
])
def test_the_parse_check_refuses_drifted_commands(drifted, error, tmp_path):
    with pytest.raises(error):
        parse_hubtool(DocCommand(drifted, "x.md:1"), _sandbox_with_checkout(tmp_path))


def test_a_covering_test_that_lost_the_command_is_caught():
    source = covering_source("tests/test_validate.py::test_good_release_passes")
    assert '"validate"' in source  # from its helper run()
    assert "corpus-thresholds" not in source
    with pytest.raises(AssertionError, match="no such test"):
        covering_source("tests/test_validate.py::test_that_does_not_exist")
    assert [c.text for c in fence_commands(ROOT / "docs" / "local-hub.md")][1] == "hubtool hub start --json"
