"""The quickstart end to end: the bundled project built by the recipes from raw text, released to a hub,
read back as the community would; then rebuilt (same folder, another folder) without a single commit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from huggingface_hub import ModelCard, hf_hub_download

from hub_tools.cli import main

pytestmark = pytest.mark.slow
NS = "hubtool-demo"


def quickstart(workdir: Path, endpoint: str) -> dict:
    result = CliRunner().invoke(main, ["quickstart", "--workdir", str(workdir), "--endpoint", endpoint, "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def first(hub, tmp_path_factory) -> tuple[Path, dict]:
    """The quickstart built and released once in a fresh folder."""
    work = tmp_path_factory.mktemp("quickstart") / "a"
    return work, quickstart(work, hub.url)


def test_quickstart_builds_with_recipes_releases_verifies_and_rebuilds_identically(hub, api, first, tmp_path):
    import datasets
    import pyarrow.parquet as pq
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recipes.evaluate.runner import evaluate_to_file

    work, first = first
    manifest = yaml.safe_load((work / "release.yaml").read_text())
    assert first["verified"] is True and all(c["ok"] for c in first["release"]["verify"])
    assert first["release"]["commits"] == len(manifest["artifacts"]) == 8
    assert {s["status"] for s in first["build"]["stages"]} == {"built"}
    assert {s["recipe"] for s in first["build"]["stages"]} == {"corpus", "tiny-base", "synth", "train", "evaluate",
                                                              "space", "arena", "preferences"}
    by_name = {a["name"]: a for a in first["artifacts"]}

    # every published artifact's hubtool.json names the recipe that made it and its inputs; no local path
    for a in first["artifacts"]:
        path = hf_hub_download(a["repo_id"], "hubtool.json", repo_type=a["repo_type"], revision=a["tag"])
        text = Path(path).read_text()
        prov = json.loads(text)
        assert prov["recipe"]["name"] and prov["build"]["stage"] == a["name"], a["name"]
        assert prov["inputs"], a["name"]
        assert str(work.parent) not in text and '"/' not in text, a["name"]
    base_prov = json.loads(Path(hf_hub_download(f"{NS}/tiny-llama-eu", "hubtool.json", revision="v1.0")).read_text())
    assert base_prov["recipe"]["name"] == "tiny-base" and base_prov["inputs"][0]["ref"] == f"{NS}/basque-sample-corpus"
    base_card = Path(hf_hub_download(f"{NS}/tiny-llama-eu", "README.md", revision="v1.0")).read_text()
    assert "toy stand-in for a real backbone" in base_card

    # load_dataset returns the corpus rows the recipe wrote
    corpus = datasets.load_dataset(f"{NS}/basque-sample-corpus", revision="v1.0")
    local = {split: sum(pq.ParquetFile(f).metadata.num_rows for f in (work / "artifacts/corpus/data").glob(f"{split}-*"))
             for split in ("train", "validation")}
    assert {s: len(corpus[s]) for s in corpus} == local == by_name["corpus"]["rows"]
    local_sources = set(pq.read_table(work / "artifacts/corpus/data", columns=["source"]).column("source").to_pylist())
    assert local["train"] > 100 and set(corpus["train"]["source"]) | set(corpus["validation"]["source"]) == \
        local_sources and len(local_sources) >= 3  # several raw sources survive the filters

    # the simulated arena round is marked simulated in the data and in the card
    configs = datasets.get_dataset_config_names(f"{NS}/basque-sample-preferences", revision="v1.0")
    sanitized = next(c for c in configs if c.endswith("-sanitized"))  # YY-MM of the (simulated) clock
    prefs = datasets.load_dataset(f"{NS}/basque-sample-preferences", sanitized, split="train", revision="v1.0")
    assert len(prefs) == 9 and all(i.startswith("simulated-") for i in prefs["id"])
    assert "SIMULATED" in Path(hf_hub_download(f"{NS}/basque-sample-preferences", "README.md", repo_type="dataset",
                                               revision="v1.0")).read_text()

    # each variant loads from its branch and generates; its model-index is what the evaluate recipe computes
    eval_cfg = yaml.safe_load((work / "configs" / "evaluate.yaml").read_text())
    tokenizer = AutoTokenizer.from_pretrained(f"{NS}/tiny-llama-eu", revision="v1.0")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Kaixo!"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    for variant in ("exp_1_010", "exp_1_110"):
        base = AutoModelForCausalLM.from_pretrained(f"{NS}/tiny-llama-eu", revision="v1.0")
        model = PeftModel.from_pretrained(base, f"{NS}/tiny-llama-eu-instruct", revision=variant).eval()
        with torch.no_grad():
            out = model.generate(**prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        assert out.shape[1] == prompt["input_ids"].shape[1] + 4
        card = ModelCard.load(hf_hub_download(f"{NS}/tiny-llama-eu-instruct", "README.md", revision=f"v1.0-{variant}"))
        published = {(r.task_type, r.metric_type): r.metric_value for r in card.data.eval_results}
        fresh = evaluate_to_file(f"{NS}/tiny-llama-eu", tmp_path / f"fresh-{variant}.json",
                                 adapter=f"{NS}/tiny-llama-eu-instruct", model_revision="v1.0",
                                 adapter_revision=f"v1.0-{variant}", tasks=tuple(eval_cfg["tasks"]),
                                 limit=eval_cfg["limit"], max_new_tokens=eval_cfg["max_new_tokens"])
        computed = {(r["task"]["type"], m["type"]): m["value"] for r in fresh["results"] for m in r["metrics"]}
        assert published == computed and len(published) == 5, variant

    # the same folder again: every stage skipped, nothing committed
    again = quickstart(work, hub.url)
    assert again["release"]["commits"] == 0 and again["verified"] is True
    assert {s["status"] for s in again["build"]["stages"]} == {"skipped"}

    # another folder, the same hub: everything rebuilt, byte-identical, so no commit and no refusal
    other = quickstart(tmp_path / "b", hub.url)
    assert {s["status"] for s in other["build"]["stages"]} == {"built"}
    assert other["release"]["commits"] == 0 and other["verified"] is True
    for name in ("corpus", "magpie", "backtranslated", "preferences"):
        a_files = sorted((work / "artifacts" / name / "data").rglob("*.parquet"))
        b_files = sorted((tmp_path / "b" / "artifacts" / name / "data").rglob("*.parquet"))
        assert [f.read_bytes() for f in a_files] == [f.read_bytes() for f in b_files], name


def test_serve_leaves_the_hub_and_the_space_running_and_prints_their_urls(hub, first, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    work, _ = first
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hub_tools.cli", "quickstart", "--workdir", str(work),
                                 "--endpoint", hub.url, "--serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while "Space: http://" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        lines = log.read_text().splitlines()
        assert any(line.startswith(f"hub:   {hub.url}") for line in lines), lines[-5:]
        url = f"http://127.0.0.1:{port}/"
        assert any(line.startswith(f"Space: {url}") for line in lines), lines[-5:]
        for _ in range(240):
            try:
                config = httpx.get(url + "config", timeout=5, trust_env=False)
                if config.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert config.status_code == 200 and "Basque LLM demo (hubtool quickstart)" in config.text
        assert httpx.get(f"{hub.url}/api/models/hubtool-demo/tiny-llama-eu", trust_env=False).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
