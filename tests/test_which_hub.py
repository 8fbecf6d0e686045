"""The "which Hub" rule (hub_tools.hub.endpoint.resolve_target) holds for every command that reads from or
writes to a Hub: `--endpoint`, then `HF_ENDPOINT`, then the real Hub when a token is configured, else the
local staging hub. Each command names the Hub it chose on stderr before touching it, and a repo it cannot
find is an error message, not a traceback.

Each case runs the real `hubtool` in a subprocess (the rule binds process-wide client state) on a repo id
that exists nowhere, so every command fails at its first Hub read; with a token and no endpoint the
process runs with HF_HUB_OFFLINE=1, so nothing leaves the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_tools.localhub import server as hubserver

from conftest import ADMIN_TOKEN, ENDPOINT

MISSING = "nobody/missing-repo"
HUB_URL = "https://huggingface.co"


def _configs(tmp: Path) -> dict[str, list[str]]:
    """One invocation per Hub-touching command, each needing the repo MISSING first."""
    (tmp / "train.yaml").write_text(
        f"name: t\nbase_model: {MISSING}\nbackbone_code: 2\nmode: lora\n"
        f"data:\n  corpus: {{hub: {MISSING}}}\ngrid: {{corpus: [1]}}\noutput_dir: {tmp / 'train-out'}\n")
    (tmp / "corpus.yaml").write_text(
        f"name: c\nlanguage: eu\nsources:\n  - {{name: hub, hub: {MISSING}}}\noutput: {tmp / 'corpus-out'}\n"
        "executor: {type: local, tasks: 1, workers: 1}\n")
    (tmp / "synth.yaml").write_text(
        f"name: s\nmethod: magpie\nlanguage: eu\nbackbone: {{model: {MISSING}}}\nnum_samples: 2\n"
        f"server: {{type: custom}}\nexecutor: {{type: local, tasks: 1, workers: 1}}\noutput: {tmp / 'synth-out'}\n")
    (tmp / "space.yaml").write_text(f"arena: false\nmodels:\n  - {{name: m, model: {MISSING}}}\n"
                                    f"votes_db: {tmp / 'votes.sqlite'}\n")
    return {
        "serve-model": ["serve-model", "--model", MISSING, "--port", "1"],
        "space run": ["space", "run", "--config", str(tmp / "space.yaml"), "--port", "1"],
        "recipe evaluate": ["recipe", "evaluate", "--model", MISSING, "--out", str(tmp / "eval.json")],
        "recipe train": ["recipe", "train", "--config", str(tmp / "train.yaml")],
        "recipe corpus": ["recipe", "corpus", "--config", str(tmp / "corpus.yaml")],
        "recipe synth": ["recipe", "synth", "--config", str(tmp / "synth.yaml")],
        "recipe preferences": ["recipe", "preferences", "--votes", MISSING, "--out", str(tmp / "prefs"),
                               "--name", "p"],
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub_tools.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN")}
    env.update({"HF_HOME": str(tmp / "hf_home"), "HUBTOOL_HOME": str(tmp / "hubtool_home"),
                "HUBTOOL_PREFERENCES_SALT": "test-salt", **extra})
    return env


def _assert_chose(result: subprocess.CompletedProcess, expected: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0, out  # the repo exists nowhere
    assert expected in result.stderr, out
    assert "Traceback" not in out, out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve-model", "space run", "recipe evaluate", "recipe train", "recipe corpus",
                                     "recipe synth", "recipe preferences"])
def test_every_hub_command_follows_the_one_rule(hub, tmp_path, command):
    args = _configs(tmp_path)[command]
    # 1. --endpoint wins over HF_ENDPOINT and a token
    _assert_chose(_run([*args, "--endpoint", ENDPOINT] if command != "serve-model"
                       else ["serve-model", "--endpoint", ENDPOINT, *args[1:]],
                       _env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9", HF_TOKEN=ADMIN_TOKEN)),
                  f"hub: {ENDPOINT} (from --endpoint)")
    # 2. then HF_ENDPOINT, even with a token configured
    _assert_chose(_run(args, _env(tmp_path, HF_ENDPOINT=ENDPOINT, HF_TOKEN=ADMIN_TOKEN)),
                  f"hub: {ENDPOINT} (from HF_ENDPOINT)")
    # 3. then the real Hub when a token is configured (offline here: nothing is sent)
    _assert_chose(_run(args, _env(tmp_path, HF_TOKEN="hf_some_token", HF_HUB_OFFLINE="1")),
                  f"hub: {HUB_URL} (a Hub token is configured)")
    # 4. else the local staging hub, started in the background
    env = _env(tmp_path)
    try:
        _assert_chose(_run(args, env), "hub: using the local staging hub at http://127.0.0.1:")
    finally:
        hubserver.stop_hub(tmp_path / "hubtool_home" / "localhub")


@pytest.mark.slow
def test_quickstart_rehearses_on_the_local_hub_even_with_a_token(tmp_path):
    """A Hub token or HF_ENDPOINT does not send the sample release anywhere (it used to exit 2)."""
    from hub_tools.hub.endpoint import resolve_target

    env_before = dict(os.environ)
    try:
        os.environ["HUBTOOL_HOME"] = str(tmp_path / "home")
        os.environ["HF_TOKEN"] = "hf_some_token"
        target = resolve_target(None, rehearsal=True)
        assert target.local and target.endpoint.startswith("http://127.0.0.1:"), target
        assert "local staging hub" in target.note
    finally:
        hubserver.stop_hub(tmp_path / "home" / "localhub")
        os.environ.clear()
        os.environ.update(env_before)
        from hub_tools.hub.endpoint import bind_endpoint



        bind_endpoint(ENDPOINT, ADMIN_TOKEN)


def test_a_space_of_endpoint_models_starts_no_hub(tmp_path):
    """`hubtool space run` binds to a Hub only when a model, an adapter or the votes repo is on one: a demo of
    OpenAI-compatible endpoints starts no local hub (here it stops at its missing API key, after the choice)."""
    config = tmp_path / "space.yaml"
    config.write_text("arena: false\nmodels:\n  - {name: m, backend: openai, model: served, "
                      "base_url: 'http://127.0.0.1:9/v1', api_key_env: HUBTOOL_TEST_MISSING_KEY}\n"
                      f"votes_db: {tmp_path / 'votes.sqlite'}\n")
    env = _env(tmp_path)
    env.pop("HUBTOOL_TEST_MISSING_KEY", None)
    try:
        result = _run(["space", "run", "--config", str(config), "--port", "1"], env)
        out = result.stdout + result.stderr
        assert result.returncode != 0 and "HUBTOOL_TEST_MISSING_KEY" in out and "Traceback" not in out, out
        assert "hub:" not in result.stderr
        assert hubserver.running_hub(tmp_path / "hubtool_home" / "localhub") is None
    finally:
        hubserver.stop_hub(tmp_path / "hubtool_home" / "localhub")
