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
def first(quickstart_built) -> tuple[Path, dict]:
    """The quickstart built and released once in a fresh folder (tests/conftest.py)."""
    return quickstart_built


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


def test_the_docs_commands_run_on_the_published_quickstart(hub, first, tmp_path):
    """The README's "Use the local hub from your own scripts" snippet and the tiny synth commands of
    docs/synthetic-instructions.md, run against what the quickstart published (tests/test_docs_commands.py
    lists them as covered here).

    The snippet runs as written in bash, with no endpoint or token configured: `hubtool hub status` finds the
    hub in ~/.cache/hubtool/localhub, here a home whose localhub holds this session hub's state file and
    admin token, and PORT is the port it reports. The synth configs run on a copy of the checkout's recipe
    data with their sizes cut to 4 rows and one task (the commands are the documented ones); the ports
    8000 of the docs become free ports."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time
    from contextlib import chdir

    import httpx
    from conftest import ADMIN_TOKEN
    from doc_commands import ROOT, fence_commands, fences
    from huggingface_hub import snapshot_download

    _, first = first
    readme = ROOT / "README.md"
    intro = readme.read_text().splitlines().index("Use the local hub from your own scripts:")
    _, _, body = next(f for f in fences(readme) if f[0] > intro + 1)
    home = tmp_path / "home"
    localhub = home / ".cache" / "hubtool" / "localhub"
    localhub.mkdir(parents=True)
    shutil.copyfile(hub.data_dir / "server.json", localhub / "server.json")
    (localhub / "admin-token").write_text(ADMIN_TOKEN + "\n")
    (localhub / "admin-token").chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN", "HUBTOOL_HOME")}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    script = "set -e\n" + "\n".join(body).replace("PORT", str(hub.port))
    ran = subprocess.run(["bash", "-c", script], check=False, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"export HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1" in ran.stdout  # what hub status prints
    rows = next(a for a in first["artifacts"] if a["name"] == "corpus")["rows"]
    assert f"num_rows: {rows['train']}" in ran.stdout and f"num_rows: {rows['validation']}" in ran.stdout

    # docs/synthetic-instructions.md, first fence: the tiny configs read the published models
    synth = {c.text: c for c in fence_commands(ROOT / "docs" / "synthetic-instructions.md") if not c.markers}
    folder = tmp_path / "checkout"
    shutil.copytree(ROOT / "recipes", folder / "recipes", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for name in ("tiny-magpie.yaml", "tiny-translate.yaml", "tiny-backtranslate.yaml"):
        path = folder / "recipes" / "configs" / "synth" / name
        cfg = yaml.safe_load(path.read_text())
        if cfg["method"] == "magpie":
            cfg["num_samples"] = 4
        else:
            cfg["input"]["limit"] = 4
        cfg["executor"]["tasks"] = 1
        path.write_text(yaml.safe_dump(cfg))

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def run(text: str, subs: dict[str, str] | None = None):
        assert text in synth or text.startswith("hubtool serve-model"), text
        for old, new in (subs or {}).items():
            text = text.replace(old, new)
        with chdir(folder):
            result = CliRunner().invoke(main, text.split()[1:])
        assert result.exit_code == 0, f"{text}\n{result.output[-3000:]}"
        return result

    for name in ("tiny-magpie", "tiny-translate", "tiny-backtranslate"):
        run(f"hubtool recipe synth --config recipes/configs/synth/{name}.yaml")
        prov = json.loads((folder / "out" / "synth" / name / "hubtool.json").read_text())
        assert prov["kind"] == "instructions" and prov["statistics"]["rows_in"] == 4, name
        assert prov["statistics"]["server"] == "custom", name  # datatrove started hubtool's server

    # `hubtool serve-model ... --port 8000 &`, then synth through it; and the README table's `--adapter A` form
    served = {"hubtool serve-model --model hubtool-demo/tiny-llama-eu --revision v1.0 --port 8000": free_port()}
    adapter = snapshot_download("hubtool-demo/tiny-llama-eu-instruct", revision="v1.0-exp_1_110",
                                local_dir=tmp_path / "adapter")
    served[f"hubtool serve-model --model hubtool-demo/tiny-llama-eu --adapter {adapter} --port 8000"] = free_port()
    assert next(iter(served)) in synth and synth[next(iter(served))].background
    procs = [subprocess.Popen([sys.executable, "-m", "hub_tools.cli", *text.replace("8000", str(port)).split()[1:]],
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / f"serve-{port}.log").open("w"),
                              start_new_session=True) for text, port in served.items()]
    try:
        for proc, port in zip(procs, served.values()):
            deadline = time.monotonic() + 600  # a far safety net: loading on a busy machine
            while time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()[-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/models", trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/completions", trust_env=False, timeout=600,
                                json={"prompt": "Kaixo", "max_tokens": 2}).json()
            assert answer["usage"]["completion_tokens"] >= 1, answer
        port = next(iter(served.values()))
        out = run("hubtool recipe synth --config recipes/configs/synth/tiny-magpie.yaml --endpoint-url "
                  "http://127.0.0.1:8000", {"8000": str(port)})
        prov = json.loads((folder / "out" / "synth" / "tiny-magpie" / "hubtool.json").read_text())
        assert prov["statistics"]["server"] == "endpoint" and prov["statistics"]["generation"]["requests"] >= 4
        assert prov["config"]["server"]["endpoint_url"] == f"http://127.0.0.1:{port}", out.output[-2000:]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
