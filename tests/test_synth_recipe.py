"""The synthetic-instruction recipe end to end on datatrove's InferenceRunner, with hubtool's transformers
server (tiny local model) as the endpoint or as datatrove's `custom` server. The text is nonsense; the
mechanics, formats, filters and counts are asserted."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from space_helpers import serving_asgi

from hub_tools.cli import main
from hub_tools.validate import validate_artifact
from recipes.synth.config import ConfigError, load_config
from recipes.synth.pipeline import run_synth
from recipes.synth.postprocess import clean, postprocess
from recipes.synth.templates import TemplateError, pre_query

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recipes" / "synth" / "sample"


class Faults:
    """ASGI middleware in front of the real server: counts requests, and answers some with a 500 or late."""

    def __init__(self, app):
        self.app, self.lock = app, threading.Lock()
        self.count = self.numbered = 0
        self.fail_at: set[int] = set()      # request numbers answered with a 500
        self.hang_at: dict[int, float] = {}  # request number -> seconds to wait before answering
        self.fail_if: str | None = None      # every request whose body contains this is answered with a 500
        self.delay = 0.0                     # every request waits this long (to interrupt a run in its middle)
        self.bodies: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        with self.lock:
            self.count += 1
            self.bodies.append(json.loads(body))
            always = bool(self.fail_if) and self.fail_if in json.dumps(self.bodies[-1], ensure_ascii=False)
            if not always:  # fault positions count the other requests only
                self.numbered += 1
            n = 0 if always else self.numbered
        if self.delay:
            await asyncio.sleep(self.delay)
        if always or n in self.fail_at:
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
            return await send({"type": "http.response.body", "body": b"injected failure"})
        if n in self.hang_at:
            await asyncio.sleep(self.hang_at[n])
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def model_server(tiny_model_dir):
    """hubtool's OpenAI-compatible server on a loopback port, with the fault middleware."""
    from hub_tools.serving.openai_server import TransformersBackend, create_app

    faults = Faults(create_app(TransformersBackend(str(tiny_model_dir), name="tiny")))
    with serving_asgi(faults) as url:
        yield faults, url


@pytest.fixture()
def faults(model_server):
    f, url = model_server
    f.fail_at, f.hang_at, f.fail_if, f.delay, f.count, f.numbered = set(), {}, None, 0.0, 0, 0
    f.bodies.clear()
    return f


def write_config(tmp_path: Path, url: str | None, tiny_model_dir: Path, **fields) -> Path:
    # paths relative to the config file, as a shipped config has them: hubtool.json must hold no local path
    data = {"name": "test-synth", "method": "magpie", "language": "eu",
            "backbone": {"model": os.path.relpath(tiny_model_dir, tmp_path), "served_name": "tiny"},
            "server": {"type": "endpoint", "endpoint_url": url, "request_timeout": 20, "retries": 2,
                       "retry_backoff": 0.05, "max_concurrent": 4},
            "sampling": {"temperature": 1.0, "max_tokens_instruction": 12, "max_tokens_response": 16},
            "num_samples": 12, "records_per_chunk": 4, "executor": {"tasks": 2, "workers": 1},
            "postprocess": {"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                            "near_dedup": {"n_grams": 2}},
            "output": "out", **fields}
    if url is None:
        data["server"] = {"type": "custom", "request_timeout": 60, "start_timeout": 120}
    path = tmp_path / "synth.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def read_rows(output: Path) -> list[dict]:
    return [r for f in sorted((output / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def assert_accounted(result, rows_in: int) -> None:
    stats = result.statistics
    assert stats["rows_in"] == rows_in
    assert stats["rows_kept"] + sum(stats["dropped"].values()) == rows_in  # every row kept or counted
    assert stats["generation"]["raw_duplicate_rows"] == 0


def test_magpie_prefix_is_derived_from_the_chat_template(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    plain = pre_query(tok)
    assert plain.prefix == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    assert plain.stop == ("<|eot_id|>",)
    with_system = pre_query(tok, "Euskaraz erantzun.")
    assert with_system.prefix == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEuskaraz erantzun."
                                  "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")  # ChatML
    assert pre_query(tok) == type(plain)("<|im_start|>user\n", ("<|im_end|>",))
    tok.chat_template = None
    with pytest.raises(TemplateError, match="no chat template"):
        pre_query(tok)


def test_magpie_end_to_end_through_the_endpoint(faults, model_server, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    _, url = model_server
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, system_prompts=["Euskaraz erantzun beti.", ""]))
    result = run_synth(cfg)
    assert_accounted(result, 12)
    # the first request of every row is the bare pre-query prefix, on the completion endpoint
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prefixes = {b["prompt"] for b in faults.bodies if "prompt" in b and b["prompt"].endswith("user<|end_header_id|>\n\n")}
    assert prefixes == {pre_query(tok, "Euskaraz erantzun beti.").prefix, pre_query(tok).prefix}
    assert all("messages" not in b for b in faults.bodies)
    rows = read_rows(result.output)
    assert rows and len({r["id"] for r in rows}) == len(rows) == result.kept
    for r in rows:
        roles = [m["role"] for m in r["messages"]]
        assert roles in (["system", "user", "assistant"], ["user", "assistant"])
        assert r["method"] == "magpie" and r["model"] == os.path.relpath(tiny_model_dir, tmp_path)
        assert r["sampling"]["temperature"] == 1.0 and r["sampling"]["max_tokens_response"] == 16
    assert validate_artifact(result.output).ok()
    prov = json.loads((result.output / "hubtool.json").read_text())
    assert prov["kind"] == "instructions" and prov["statistics"]["generation"]["requests"] == len(faults.bodies)
    assert prov["recipe"]["name"] == "synth-magpie"


def test_backtranslation_links_each_row_to_its_source_document(faults, model_server, tiny_model_dir, tmp_path):
    _, url = model_server
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, method="backtranslate",
                                   input={"path": str(SAMPLE / "eu_docs.jsonl"), "limit": 10},
                                   source_dataset="hubtool-demo/basque-sample-corpus"))
    result = run_synth(cfg)
    assert_accounted(result, 10)
    sources = {json.loads(line)["id"]: json.loads(line)["text"]
               for line in (SAMPLE / "eu_docs.jsonl").read_text().splitlines()}
    rows = read_rows(result.output)
    assert rows
    for r in rows:
        assert r["source_doc_id"] in sources
        assert r["messages"][-1]["content"] == clean(sources[r["source_doc_id"]])  # the document is the answer
    assert all("messages" in b for b in faults.bodies)  # chat endpoint
    assert any(sources["doc-000"] in b["messages"][-1]["content"] for b in faults.bodies)
    prov = json.loads((result.output / "hubtool.json").read_text())
    assert [s["id"] for s in prov["source_datasets"]] == ["hubtool-demo/basque-sample-corpus"]


def test_a_folder_input_gives_only_its_train_split_and_is_recorded(faults, model_server, tiny_model_dir, tmp_path):
    """An artifact folder as input: its validation documents never become training answers (unless
    `input.split` says so), and hubtool.json names the input and its content fingerprint, with no local path."""
    import pyarrow as pa

    _, url = model_server
    docs = [json.loads(line) for line in (SAMPLE / "eu_docs.jsonl").read_text().splitlines()]
    corpus = tmp_path / "corpus"
    (corpus / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(docs[:6]), corpus / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(docs[6:9]), corpus / "data" / "validation-00000-of-00001.parquet")
    path = write_config(tmp_path, url, tiny_model_dir, method="backtranslate", input={"path": "corpus"})
    data = yaml.safe_load(path.read_text())
    data["output"] = "out/bt"  # relative: to the config file's folder
    path.write_text(yaml.safe_dump(data))
    result = run_synth(load_config(path))
    assert result.output == tmp_path / "out" / "bt"
    assert_accounted(result, 6)
    assert {r["source_doc_id"] for r in read_rows(result.output)} <= {d["id"] for d in docs[:6]}
    prov = json.loads((result.output / "hubtool.json").read_text())
    (record,) = [i for i in prov["inputs"] if i["name"] == "input"]
    assert record["ref"] == "corpus" and record["rows"] == 6 and len(record["sha256"]) == 64
    assert "validation" not in json.dumps(prov["inputs"])
    data["input"] = {"path": "corpus", "split": "validation"}
    path.write_text(yaml.safe_dump(data))
    result = run_synth(load_config(path))
    assert_accounted(result, 3)
    assert {r["source_doc_id"] for r in read_rows(result.output)} <= {d["id"] for d in docs[6:9]}


def test_backtranslation_reads_a_hub_dataset_at_a_revision(faults, model_server, tiny_model_dir, tmp_path, api,
                                                          repo_name):
    _, url = model_server
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=SAMPLE / "eu_docs.jsonl", path_in_repo="data/train.jsonl", repo_id=repo,
                    repo_type="dataset")
    api.create_tag(repo, tag="v1.0", repo_type="dataset")
    api.upload_file(path_or_fileobj=b'{"id": "later", "text": "Geroago gehitutako dokumentua."}\n',
                    path_in_repo="data/more.jsonl", repo_id=repo, repo_type="dataset")  # not at v1.0
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, method="backtranslate",
                                   input={"hub": repo, "revision": "v1.0"}))
    result = run_synth(cfg)
    assert_accounted(result, 30)
    assert {r["source_doc_id"] for r in read_rows(result.output)} <= {f"doc-{i:03d}" for i in range(30)}
    prov = json.loads((result.output / "hubtool.json").read_text())
    assert prov["source_datasets"] == [{"id": repo, "revision": "v1.0"}]


def test_translate_with_the_judge_scores_and_counts(faults, model_server, tiny_model_dir, tmp_path):
    _, url = model_server
    cfg = load_config(write_config(
        tmp_path, url, tiny_model_dir, method="translate",
        input={"path": str(SAMPLE / "instructions_en.jsonl"), "text_key": "instruction", "response_key": "response",
               "limit": 8},
        postprocess={"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                     "judge": {"enabled": True, "threshold": 3, "max_tokens": 4}}))
    result = run_synth(cfg)
    assert_accounted(result, 8)
    judge_prompts = [b for b in faults.bodies if "Reply with a single digit" in b["messages"][-1]["content"]]
    assert len(judge_prompts) == 8  # one judge call per translated row
    translate_prompts = [b for b in faults.bodies if "into Basque" in b["messages"][-1]["content"]]
    assert len(translate_prompts) == 16  # instruction and answer of each row
    # the tiny model's verdicts are nonsense: a row is kept only with a parsed score >= 3, else counted
    assert set(result.statistics["dropped"]) <= {"judge_unparsable", "judge_below_threshold", "empty",
                                                 "duplicate_instruction", "near_duplicate_instruction"}
    for r in read_rows(result.output):
        assert r["score"] >= 3 and r["source_doc_id"].startswith("en-")


def test_server_errors_and_timeouts_are_retried_or_counted(faults, model_server, tiny_model_dir, tmp_path):
    _, url = model_server
    faults.fail_at = {2, 5}                    # two 500s in the middle of the run
    faults.hang_at = {7: 3.0}                  # one answer that comes after the client gave up
    docs = [json.loads(line) for line in (SAMPLE / "eu_docs.jsonl").read_text().splitlines()]
    faults.fail_if = docs[4]["text"][:40]      # one document (doc-004) the server always fails on
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, method="backtranslate",
                                   input={"path": str(SAMPLE / "eu_docs.jsonl"), "limit": 8},
                                   server={"type": "endpoint", "endpoint_url": url, "request_timeout": 1.0,
                                           "retries": 2, "retry_backoff": 0.05, "max_concurrent": 2}))
    result = run_synth(cfg)
    assert_accounted(result, 8)
    g, dropped = result.statistics["generation"], result.statistics["dropped"]
    assert dropped.get("generation_error") == 1
    assert result.statistics["dropped_examples"]["generation_error"] == "doc-004"
    assert g["retries"] >= 2 + 1 + 2  # the two 500s, the timeout, and doc-004's two retries
    assert "doc-004" not in {r["source_doc_id"] for r in read_rows(result.output)}


def test_a_killed_run_resumes_without_duplicate_or_missing_rows(faults, model_server, tiny_model_dir, tmp_path):
    _, url = model_server
    faults.delay = 0.15
    config = write_config(tmp_path, url, tiny_model_dir, num_samples=30, records_per_chunk=3,
                          server={"type": "endpoint", "endpoint_url": url, "max_concurrent": 1})
    work = tmp_path / "out.work"
    proc = subprocess.Popen([sys.executable, "-m", "hub_tools.cli", "recipe", "synth", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once a chunk of the first task is complete, long before the end
        if (work / "checkpoints" / "last_chunk" / "00000.txt").exists():
            break
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = faults.count
    assert not (tmp_path / "out" / "hubtool.json").exists()
    result = CliRunner().invoke(main, ["recipe", "synth", "--config", str(config), "--resume", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["rows_in"] == 30 and stats["generation"]["raw_duplicate_rows"] == 0
    assert stats["rows_kept"] + sum(stats["dropped"].values()) == 30
    rows = read_rows(tmp_path / "out")
    assert len({r["id"] for r in rows}) == len(rows) == stats["rows_kept"]
    assert faults.count - before < 60  # the resumed run did not start over (30 rows x 2 requests)


@pytest.mark.slow
def test_datatrove_starts_hubtools_server_as_its_custom_server(tiny_model_dir, tmp_path):
    cfg = load_config(write_config(tmp_path, None, tiny_model_dir, num_samples=6,
                                   executor={"tasks": 1, "workers": 1}))
    assert cfg.server.type == "custom"
    result = run_synth(cfg)
    assert_accounted(result, 6)
    assert result.statistics["generation"]["requests"] >= 6
    assert validate_artifact(result.output).ok()


def test_postprocess_counts_every_reason():
    def row(i, instruction, response, **extra):
        return {"id": f"r{i}", "result": {"instruction": instruction, "response": response, "usage": {}, **extra}}

    from recipes.synth.config import PostProcess

    basque = "Euskal Herriko mendiak oso politak dira eta udan askotan joaten gara mendira familiarekin."
    ok = {"score": 4}
    rows = [row(0, "Instruction: \"Zein dira Euskal Herriko mendirik ezagunenak eta zergatik?\"", basque, **ok),
            row(1, "Zein dira Euskal Herriko mendirik ezagunenak eta zergatik?", basque, **ok),   # exact duplicate
            row(2, "Zein dira Euskal Herriko mendirik ezagunenak eta zergatik ?!", basque, **ok),  # same words
            row(3, "Idatzi olerki labur bat itsasoari buruz, mesedez, hiru ahapalditan.", "Barkatu, ezin dizut "
                "horretan lagundu, hizkuntza eredu bat naiz eta.", **ok),                         # refusal
            row(4, "Kaixo", basque, **ok),                                                     # too short
            row(5, "What is the highest mountain of the Basque Country and how tall is it?",
                "The highest mountain is Hiru Erregeen Mahaia, at 2,442 metres above sea level.", **ok),  # not eu
            row(6, "", "", **ok),
            row(7, "x", "y", error="timeout after 1s"),
            row(8, "Azaldu nola egiten den tortilla ona etxean, urratsez urrats eta xehetasunez.", basque, score=2),
            row(9, "Azaldu nola prestatzen den marmitakoa etxean, urratsez urrats eta xehetasunez.", basque, score=5),
            row(10, "Nola esaten da euskaraz eskerrik asko eta zer esan nahi du zehazki?", basque)]  # no score
    cfg = PostProcess(min_instruction_chars=10, judge={"enabled": True, "threshold": 3},
                      near_dedup={"n_grams": 2})
    out = postprocess(rows, cfg, "eu", "/tmp/hubtool-minhash-test")
    assert [r["id"] for r in out.kept] == ["r0", "r9"]
    assert out.kept[0]["instruction"] == "Zein dira Euskal Herriko mendirik ezagunenak eta zergatik?"
    assert (out.kept[0]["instruction_language"], out.kept[0]["response_language"]) == ("eu", "eu")
    assert dict(out.dropped) == {"duplicate_instruction": 2, "refusal_or_boilerplate": 1, "instruction_too_short": 1,
                                 "instruction_not_eu": 1, "empty": 1, "generation_error": 1, "judge_unparsable": 1,
                                 "judge_below_threshold": 1}
    assert out.examples["generation_error"] == "r7" and out.examples["instruction_not_eu"] == "r5"
    assert len(out.kept) + sum(out.dropped.values()) == len(rows)


def test_near_duplicate_instructions_are_dropped():
    from recipes.synth.config import PostProcess

    answer = "Euskal Herriko mendiak oso politak dira eta udan askotan joaten gara mendira familiarekin."
    text = "Azaldu zehatz nola egiten den tortilla ona etxean urratsez urrats eta xehetasun guztiekin mesedez"
    rows = [{"id": "a", "result": {"instruction": text, "response": answer}},
            {"id": "b", "result": {"instruction": text.replace("mesedez", "arren"), "response": answer}}]
    out = postprocess(rows, PostProcess(language_check=False, near_dedup={"n_grams": 2, "num_buckets": 20,
                                                                          "hashes_per_bucket": 2}), "eu", "/tmp/mh")
    assert [r["id"] for r in out.kept] == ["a"] and dict(out.dropped) == {"near_duplicate_instruction": 1}


def test_vllm_without_the_gpu_extra_is_a_clear_error(tiny_model_dir, tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:9", tiny_model_dir,
                          server={"type": "vllm", "tp": 1})
    result = CliRunner().invoke(main, ["recipe", "synth", "--config", str(config)])
    assert result.exit_code == 2 and "hubtool[gpu]" in result.output and "vLLM" in result.output


def test_config_errors_name_the_field(tmp_path, tiny_model_dir):
    config = write_config(tmp_path, None, tiny_model_dir, method="backtranslate")
    with pytest.raises(ConfigError, match="needs `input`"):
        load_config(config)
    config = write_config(tmp_path, None, tiny_model_dir, method="backtranslate",
                          input={"path": "x.jsonl", "hub": "org/name"})
    with pytest.raises(ConfigError, match="input: .*exactly one of `path` or `hub`"):
        load_config(config)
    config.write_text(yaml.safe_dump({"name": "x", "method": "magpie", "backbone": {"model": "m"},
                                      "server": {"type": "endpoint"}}))
    with pytest.raises(ConfigError, match="server: .*endpoint_url"):
        load_config(config)


def test_shipped_configs_load_and_gpu_configs_name_their_server():
    from recipes.synth.pipeline import inference_config

    configs = sorted((ROOT / "recipes" / "configs" / "synth").glob("*.yaml"))
    assert len(configs) >= 6
    servers = {}
    for path in configs:
        cfg = load_config(path)
        servers[path.stem] = cfg.server.type
        if cfg.method != "magpie":
            assert cfg.input is not None
        if cfg.server.type == "vllm":  # no vLLM here: the same clear error as the CLI gives
            with pytest.raises(ConfigError, match=r"hubtool\[gpu\]"):
                inference_config(cfg)
        else:
            assert inference_config(cfg).server_type == cfg.server.type
    assert servers["llama31-8b-magpie"] == servers["llama31-70b-backtranslate-slurm"] == "vllm"
    assert load_config(configs[[p.stem for p in configs].index("llama31-70b-backtranslate-slurm")]).executor.type \
        == "slurm"
