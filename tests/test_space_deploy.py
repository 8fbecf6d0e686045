"""`hubtool space deploy` to the local hub: README metadata, pinned requirements, variables, and the
deployed folder runs on its own (no hubtool installed)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata

import yaml
from click.testing import CliRunner
from huggingface_hub import SpaceCard, snapshot_download

from hub_tools.cli import main
from hub_tools.validate import validate_artifact


def _deploy(args: list[str]) -> dict:
    result = CliRunner().invoke(main, ["space", "deploy", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])


def test_deploy_uploads_the_app_with_metadata_requirements_and_variables(hub, api, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    config = tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump({
        "title": "Latxa demo", "auth": "hf_oauth", "models": [
            {"name": "base", "model": "hitz/tiny-base", "revision": "v1.0"},
            {"name": "instruct", "model": "hitz/tiny-base", "adapter": "hitz/tiny-instruct",
             "adapter_revision": "v1.0-exp_2_111"},
            {"name": "latxa-8b", "backend": "openai", "model": "HiTZ/Latxa-Llama-3.1-8B-Instruct",
             "api_key_env": "VLLM_API_KEY"}]}))
    dry = _deploy(["--repo", repo, "--config", str(config), "--dry-run", "--endpoint", hub.url])
    assert {c["path"] for c in dry["plan"]["changes"]} >= {"app.py", "votes.py", "hubtool_serving.py", "README.md"}
    assert not api.repo_exists(repo, repo_type="space")  # a dry run changes nothing

    staged = tmp_path / "staged"
    out = _deploy(["--repo", repo, "--config", str(config), "--votes-repo", "hitz/latxa-votes",
                   "--model-endpoint", "http://127.0.0.1:8000/v1", "--out", str(staged), "--endpoint", hub.url])
    assert out["commit"] and validate_artifact(staged).ok()
    card = SpaceCard.load(api.hf_hub_download(repo, "README.md", repo_type="space")).data
    assert (card.sdk, card.app_file, card.license) == ("gradio", "app.py", "apache-2.0")
    assert card.sdk_version == metadata.version("gradio")
    assert card.models == ["hitz/tiny-base", "hitz/tiny-instruct", "HiTZ/Latxa-Llama-3.1-8B-Instruct"]
    assert card.datasets == ["hitz/latxa-votes"]
    assert card.hf_oauth is True  # `auth: hf_oauth`: the hosted Space offers "Sign in with Hugging Face"
    requirements = api.hf_hub_download(repo, "requirements.txt", repo_type="space")
    pins = dict(line.split("==") for line in open(requirements).read().split())
    assert pins["gradio"] == metadata.version("gradio") and pins["torch"] == "2.13.0"
    variables = api.get_space_variables(repo)
    assert variables["HUBTOOL_SPACE_CONFIG"].value == "space.yaml"
    assert variables["HUBTOOL_VOTES_REPO"].value == "hitz/latxa-votes"
    assert variables["HUBTOOL_OPENAI_BASE_URL"].value == "http://127.0.0.1:8000/v1"
    files = set(api.list_repo_files(repo, repo_type="space"))
    assert {"app.py", "backends.py", "battle.py", "identity.py", "leaderboard.py", "settings.py", "votes.py",
            "hubtool_serving.py",
            "hubtool_ratings.py", "space.yaml", "requirements.txt", "hubtool.json"} <= files
    # deploying the same thing again makes no commit
    again = _deploy(["--repo", repo, "--config", str(config), "--votes-repo", "hitz/latxa-votes",
                     "--model-endpoint", "http://127.0.0.1:8000/v1", "--endpoint", hub.url])
    assert again["commit"] is None


def test_the_deployed_folder_builds_its_app_without_hubtool(hub, api, repo_name, tmp_path, tiny_model_dir):
    """What a Space machine does: install the requirements and import app.py, with no hubtool around."""
    repo = f"hitz/{repo_name}"
    config = tmp_path / "space.yaml"
    local = __import__("os").path.relpath(tiny_model_dir, tmp_path / "space")  # where the Space runs; no absolute
    config.write_text(yaml.safe_dump({"models": [{"name": "a", "model": local},  # path may be published (HT004)
                                                 {"name": "b", "model": local}],
                                      "votes_db": "data/votes.sqlite"}))
    _deploy(["--repo", repo, "--config", str(config), "--endpoint", hub.url])
    folder = snapshot_download(repo, repo_type="space", local_dir=tmp_path / "space")
    script = textwrap.dedent("""
        import sys
        sys.modules["hub_tools"] = sys.modules["recipes"] = None  # as on a Space: hubtool is not installed
        sys.path.insert(0, ".")
        from app import create_demo
        demo = create_demo()
        state = demo.hubtool
        print(",".join(sorted(state.backends)))
        print(type(state.backends["a"].engine).__module__)
        print(state.settings.votes_db)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HUBTOOL_SPACE_CONFIG": "space.yaml"})
    assert done.returncode == 0, done.stderr[-3000:]
    names, module, votes_db = done.stdout.splitlines()[-3:]
    assert names == "a,b" and module == "hubtool_serving" and votes_db.startswith(str(tmp_path / "space"))
