"""The synthetic-instruction recipe end to end on datatrove's InferenceRunner, with hubtool's transformers
server (tiny local model) as the endpoint or as datatrove's `custom` server. The text is nonsense; the
mechanics, formats, filters and counts are asserted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from openai_standin import FAIL, HANG, StandIn
from space_helpers import serving_asgi

from hub_tools.cli import main
from hub_tools.validate import validate_artifact
from recipes.synth.config import ConfigError, load_config
from recipes.synth.pipeline import run_synth
from recipes.synth.postprocess import clean, postprocess
from recipes.synth.templates import TemplateError, pre_query

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "recipes" / "synth" / "sample"


class Recorder:
    """ASGI middleware in front of the real server: keeps every generation request's body, in arrival order."""

    def __init__(self, app):
        self.app, self.lock = app, threading.Lock()
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
            self.bodies.append(json.loads(body))
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
    """hubtool's OpenAI-compatible server (the tiny model) on a loopback port, behind the recorder."""
    from hub_tools.serving.openai_server import TransformersBackend, create_app

    recorder = Recorder(create_app(TransformersBackend(str(tiny_model_dir), name="tiny")))
    with serving_asgi(recorder) as url:
        yield recorder, url


@pytest.fixture()
def recorder(model_server):
    rec, _ = model_server
    rec.bodies.clear()
    return rec


@pytest.fixture(scope="module")
def standin_server():
    """The scripted stand-in server (tests/openai_standin.py) on a loopback port."""
    server = StandIn()
    with serving_asgi(server.app()) as url:
        try:
            yield server, url
        finally:
            server.release()  # nothing stays held when uvicorn shuts down


@pytest.fixture()
def standin(standin_server):
    server, url = standin_server
    server.script(lambda body: "")
    return server, url


def write_config(tmp_path: Path, url: str | None, tiny_model_dir: Path, file: str = "synth.yaml", **fields) -> Path:
    """A recipe config for the tests. Request timeouts are far above a request's time on a busy machine (a
    safety net only): a test that needs a timeout to fire uses the stand-in server, which hangs on purpose."""
    # paths relative to the config file, as a shipped config has them: hubtool.json must hold no local path
    data = {"name": "test-synth", "method": "magpie", "language": "eu",
            "backbone": {"model": os.path.relpath(tiny_model_dir, tmp_path), "served_name": "tiny"},
            "server": {"type": "endpoint", "endpoint_url": url, "request_timeout": 300, "retries": 2,
                       "retry_backoff": 0.05, "max_concurrent": 4},
            "sampling": {"temperature": 1.0, "max_tokens_instruction": 12, "max_tokens_response": 16},
            "num_samples": 12, "records_per_chunk": 4, "executor": {"tasks": 2, "workers": 1},
            "postprocess": {"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                            "near_dedup": {"n_grams": 2}},
            "output": "out", **fields}
    if url is None:
        data["server"] = {"type": "custom", "request_timeout": 300, "start_timeout": 600}
    path = tmp_path / file
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


def test_magpie_end_to_end_through_the_endpoint(recorder, model_server, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    _, url = model_server
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, system_prompts=["Euskaraz erantzun beti.", ""]))
    result = run_synth(cfg)
    assert_accounted(result, 12)
    # the first request of every row is the bare pre-query prefix, on the completion endpoint
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prefixes = {b["prompt"] for b in recorder.bodies
                if "prompt" in b and b["prompt"].endswith("user<|end_header_id|>\n\n")}
    assert prefixes == {pre_query(tok, "Euskaraz erantzun beti.").prefix, pre_query(tok).prefix}
    assert all("messages" not in b for b in recorder.bodies)
    assert all(b["add_special_tokens"] is False for b in recorder.bodies)  # no second BOS
    first = [b for b in recorder.bodies if b["prompt"].endswith("user<|end_header_id|>\n\n")]
    assert sorted(b["seed"] for b in first) == list(range(12))  # per-row seed: seed (0) x 1_000_003 + slot
    rows = read_rows(result.output)
    assert rows and len({r["id"] for r in rows}) == len(rows) == result.kept
    for r in rows:
        roles = [m["role"] for m in r["messages"]]
        assert roles in (["system", "user", "assistant"], ["user", "assistant"])
        assert r["method"] == "magpie" and r["model"] == os.path.relpath(tiny_model_dir, tmp_path)
        assert r["sampling"]["temperature"] == 1.0 and r["sampling"]["max_tokens_response"] == 16
    assert validate_artifact(result.output).ok()
    prov = json.loads((result.output / "hubtool.json").read_text())
    assert prov["kind"] == "instructions" and prov["statistics"]["generation"]["requests"] == len(recorder.bodies)
    assert prov["recipe"]["name"] == "synth-magpie"
    checked = CliRunner().invoke(main, ["validate", str(result.output), "--json"])
    assert checked.exit_code == 0, checked.output
    again = run_synth(cfg, output=tmp_path / "again")  # same config, same per-row seeds: the same rows
    assert [r["messages"] for r in read_rows(again.output)] == [r["messages"] for r in rows]


def test_backtranslation_links_each_row_to_its_source_document(recorder, model_server, tiny_model_dir, tmp_path):
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
    assert all("messages" in b for b in recorder.bodies)  # chat endpoint
    assert any(sources["doc-000"] in b["messages"][-1]["content"] for b in recorder.bodies)
    prov = json.loads((result.output / "hubtool.json").read_text())
    assert [s["id"] for s in prov["source_datasets"]] == ["hubtool-demo/basque-sample-corpus"]


def test_a_folder_input_gives_only_its_train_split_and_is_recorded(recorder, model_server, tiny_model_dir, tmp_path):
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
    data["input"] = {"path": "corpus", "split": "validation"}
    path.write_text(yaml.safe_dump(data))
    result = run_synth(load_config(path))
    assert_accounted(result, 3)
    assert {r["source_doc_id"] for r in read_rows(result.output)} <= {d["id"] for d in docs[6:9]}


def test_backtranslation_reads_a_hub_dataset_at_a_revision(recorder, model_server, tiny_model_dir, tmp_path, api,
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


# The judge's verdict for each source instruction of instructions_en.jsonl (rows en-006 and en-007 repeat
# en-000 and en-001, so they get the same verdicts), and the score hubtool must read from it.
VERDICTS = {"What is the capital of Álava?": ("5", 5),
            "Name a traditional Basque sport.": ("Score: 3", 3),      # exactly the threshold: kept
            "What does Olentzero bring at Christmas?": ("2", 2),       # just under: dropped
            "Where is San Sebastián?": ("I would give it a 4.", 4),
            "What is txakoli?": ("1", 1),
            "Give me a tip to sleep well.": ("Excellent, truly.", None)}  # no digit: unparsable


def translate_or_judge(body: dict) -> str:
    """The stand-in backbone: a "translation" is the text marked `(eu) `; a verdict comes from VERDICTS."""
    text = body["messages"][-1]["content"]
    if "Reply with a single digit" in text:
        return next(verdict for question, (verdict, _) in VERDICTS.items() if f"\n(eu) {question}\n" in text)
    assert "into Basque" in text, text
    return "(eu) " + text.rsplit("\n\n", 1)[1]


def test_the_judge_keeps_rows_scored_at_or_above_the_threshold(standin, tiny_model_dir, tmp_path):
    """The judge's answers parse (a bare digit, "Score: 3", a digit in a sentence) or do not (no digit).
    Bugs this catches: every row dropped as `judge_unparsable` (the `score >= threshold` branch never runs),
    `>` instead of `>=`, the wrong digit read from an answer, the score not written to the row."""
    server, url = standin
    server.script(translate_or_judge)
    sources = {r["id"]: r for r in map(json.loads, (SAMPLE / "instructions_en.jsonl").read_text().splitlines())}
    cfg = load_config(write_config(
        tmp_path, url, tiny_model_dir, method="translate",
        input={"path": str(SAMPLE / "instructions_en.jsonl"), "text_key": "instruction", "response_key": "response",
               "limit": 8},
        postprocess={"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                     "near_dedup": {"enabled": False}, "judge": {"enabled": True, "threshold": 3, "max_tokens": 4}}))
    result = run_synth(cfg)
    assert_accounted(result, 8)
    judge_requests = [b for b in server.bodies if "Reply with a single digit" in b["messages"][-1]["content"]]
    assert len(judge_requests) == 8  # one verdict per translated row
    assert all(b["max_tokens"] == 4 and b["temperature"] == 0.0 for b in judge_requests)
    assert len([b for b in server.bodies if "into Basque" in b["messages"][-1]["content"]]) == 16  # both sides
    assert server.received == server.answered == result.statistics["generation"]["requests"] == 24
    # en-000 (5), en-001 (3) and en-003 (4) pass; en-002 (2), en-004 (1) are under the threshold; en-005's
    # verdict has no digit; en-006 and en-007 pass the judge and are then exact duplicates of en-000, en-001.
    assert result.statistics["dropped"] == {"judge_below_threshold": 2, "judge_unparsable": 1,
                                            "duplicate_instruction": 2}
    assert result.statistics["dropped_examples"]["judge_below_threshold"] == "en-002"
    assert result.statistics["dropped_examples"]["judge_unparsable"] == "en-005"
    rows = read_rows(result.output)
    assert [(r["source_doc_id"], r["score"]) for r in rows] == [("en-000", 5), ("en-001", 3), ("en-003", 4)]
    for r in rows:
        source = sources[r["source_doc_id"]]
        assert r["messages"] == [{"role": "user", "content": "(eu) " + source["instruction"]},
                                 {"role": "assistant", "content": "(eu) " + source["response"]}]
        assert r["score"] == VERDICTS[source["instruction"]][1]


def test_server_errors_and_timeouts_are_retried_or_counted(standin, tiny_model_dir, tmp_path):
    """Faults chosen by document, so every count is exact: doc-001 and doc-005 get one 500 each, doc-006's
    first request hangs until the client's timeout, doc-004 fails every time (three attempts: counted as a
    generation error). The stand-in answers at once, so the 10 s timeout fires only on the hung request."""
    server, url = standin
    docs = [json.loads(line) for line in (SAMPLE / "eu_docs.jsonl").read_text().splitlines()][:8]

    def doc_of(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        return next(d["id"] for d in docs if f"\n\n{d['text']}\n\n" in prompt)

    server.script(lambda body: f"Zer kontatzen du {doc_of(body)} testuak?", key=doc_of,
                  faults={"doc-001": [FAIL], "doc-005": [FAIL], "doc-006": [HANG], "doc-004": [FAIL, FAIL, FAIL]})
    cfg = load_config(write_config(tmp_path, url, tiny_model_dir, method="backtranslate",
                                   input={"path": str(SAMPLE / "eu_docs.jsonl"), "limit": 8},
                                   postprocess={"language_check": False, "min_instruction_chars": 1,
                                                "min_response_chars": 1, "near_dedup": {"enabled": False}},
                                   server={"type": "endpoint", "endpoint_url": url, "request_timeout": 10,
                                           "retries": 2, "retry_backoff": 0.05, "max_concurrent": 2}))
    result = run_synth(cfg)
    assert_accounted(result, 8)
    g, dropped = result.statistics["generation"], result.statistics["dropped"]
    assert dropped == {"generation_error": 1}
    assert result.statistics["dropped_examples"]["generation_error"] == "doc-004"
    assert g["retries"] == 1 + 1 + 1 + 2  # doc-001's and doc-005's 500s, doc-006's timeout, doc-004's two retries
    assert g["requests"] == server.answered == 7  # one answered request per document but doc-004
    assert server.failed == 5 and server.held.is_set()
    assert server.received == 7 + 5 + 1  # answered, failed, and the one that hung
    rows = read_rows(result.output)
    assert [r["source_doc_id"] for r in rows] == [d["id"] for d in docs if d["id"] != "doc-004"]
    for r, d in zip(rows, [d for d in docs if d["id"] != "doc-004"]):
        assert r["messages"] == [{"role": "user", "content": f"Zer kontatzen du {d['id']} testuak?"},
                                 {"role": "assistant", "content": clean(d["text"])}]


def magpie_answer(body: dict) -> str:
    """The stand-in backbone for Magpie: an instruction for the pre-query prefix, else an answer; both from
    the row's seed (the slot number, with seed 0), so every row's text is known in advance."""
    assert body["add_special_tokens"] is False
    if body["prompt"].endswith("user<|end_header_id|>\n\n"):
        return f"Azaldu {body['seed']} zenbakia."
    return f"{body['seed']} zenbaki bat da."


def test_a_killed_run_resumes_exactly_where_it_stopped(standin, tiny_model_dir, tmp_path):
    """A full run makes N = 30 rows x 2 requests. A second run is stopped at a known point: the stand-in holds
    request 43, the first of task 1's 7th row (task 0's 15 rows = 30 requests, then task 1's first two
    checkpoint chunks of 3 rows = 12), and the run is killed there with SIGKILL. The resumed run must make
    exactly N - 42 requests (finished task and checkpointed chunks skipped, nothing repeated) and write the
    same rows as the full run, none twice, none missing."""
    server, url = standin
    common = dict(num_samples=30, records_per_chunk=3, executor={"tasks": 2, "workers": 1},
                  server={"type": "endpoint", "endpoint_url": url, "max_concurrent": 1, "request_timeout": 300},
                  postprocess={"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                               "near_dedup": {"enabled": False}})
    expected = [{"id": f"magpie-{i:07d}", "messages": [{"role": "user", "content": f"Azaldu {i} zenbakia."},
                                                       {"role": "assistant", "content": f"{i} zenbaki bat da."}]}
                for i in range(30)]

    server.script(magpie_answer)
    full = run_synth(load_config(write_config(tmp_path, url, tiny_model_dir, file="full.yaml",
                                              output=str(tmp_path / "full"), **common)))
    n = 30 * 2
    assert server.received == server.answered == full.statistics["generation"]["requests"] == n
    assert [{"id": r["id"], "messages": r["messages"]} for r in read_rows(full.output)] == expected

    done = 30 + 2 * 3 * 2
    server.script(magpie_answer, hold_after=done)
    config = write_config(tmp_path, url, tiny_model_dir, **common)
    work = tmp_path / "out.work"
    proc = subprocess.Popen([sys.executable, "-m", "hub_tools.cli", "recipe", "synth", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not server.held.wait(0.1):  # no deadline: the run reaches request 43 or ends (pytest-timeout is the net)
            assert proc.poll() is None, "the run ended before it reached the held request"
        assert (server.answered, server.received) == (done, done + 1)
        assert (work / "logs" / "completions" / "00000").exists()          # task 0 finished
        assert not (work / "logs" / "completions" / "00001").exists()
        assert (work / "checkpoints" / "last_chunk" / "00001.txt").read_text().strip() == "1"  # 2 chunks of task 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "out" / "hubtool.json").exists()

    server.script(magpie_answer)  # releases the held request (answered 503 to the dead client) and resets counts
    result = CliRunner().invoke(main, ["recipe", "synth", "--config", str(config), "--resume", "--json"])
    assert result.exit_code == 0, result.output
    assert server.received == server.answered == n - done  # exactly the requests the killed run had not made
    stats = json.loads(result.stdout)
    assert stats["rows_in"] == stats["rows_kept"] == 30 and stats["dropped"] == {}
    assert stats["generation"]["raw_duplicate_rows"] == 0
    assert stats["generation"]["requests"] == n  # every row's requests, those of the killed run included
    assert [{"id": r["id"], "messages": r["messages"]} for r in read_rows(tmp_path / "out")] == expected


def test_endpoint_url_option_overrides_the_configured_server(standin, tiny_model_dir, tmp_path):
    """`--endpoint-url` sends every request to a running server even when the config says `custom`."""
    server, url = standin
    server.script(magpie_answer)
    config = write_config(tmp_path, None, tiny_model_dir, num_samples=4, executor={"tasks": 1, "workers": 1},
                          postprocess={"language_check": False, "min_instruction_chars": 1, "min_response_chars": 1,
                                       "near_dedup": {"enabled": False}})
    assert load_config(config).server.type == "custom"
    result = CliRunner().invoke(main, ["recipe", "synth", "--config", str(config), "--endpoint-url", url, "--json"])
    assert result.exit_code == 0, result.output
    assert server.received == server.answered == 4 * 2
    assert json.loads(result.stdout)["server"] == "endpoint"
    assert [r["messages"][0]["content"] for r in read_rows(tmp_path / "out")] == [f"Azaldu {i} zenbakia."
                                                                               for i in range(4)]


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
            row(10, "Nola esaten da euskaraz eskerrik asko eta zer esan nahi du zehazki?", basque),  # no score
            row(11, "Azaldu " + "oso " * 80 + "luze.", basque, **ok),                          # instruction > 300
            row(12, "Zein da Euskal Herriko mendirik garaiena eta zenbat metro ditu?", "Bai.", **ok),  # answer < 10
            row(13, "Idatzi Euskal Herriko mendiei buruzko testu luze bat, mesedez.", basque * 5, **ok),  # > 400
            row(14, "Zer egiten duzu udan zure familiarekin Euskal Herriko mendietan?",
                "In summer we often go hiking in the mountains of the Basque Country with the whole family, "
                "and we eat together at the top.", **ok)]                                       # answer not eu
    cfg = PostProcess(min_instruction_chars=10, max_instruction_chars=300, max_response_chars=400,
                      judge={"enabled": True, "threshold": 3}, near_dedup={"n_grams": 2})
    out = postprocess(rows, cfg, "eu", "/tmp/hubtool-minhash-test")
    assert [r["id"] for r in out.kept] == ["r0", "r9"]
    assert out.kept[0]["instruction"] == "Zein dira Euskal Herriko mendirik ezagunenak eta zergatik?"
    assert (out.kept[0]["instruction_language"], out.kept[0]["response_language"]) == ("eu", "eu")
    assert dict(out.dropped) == {"duplicate_instruction": 2, "refusal_or_boilerplate": 1, "instruction_too_short": 1,
                                 "instruction_not_eu": 1, "empty": 1, "generation_error": 1, "judge_unparsable": 1,
                                 "judge_below_threshold": 1, "instruction_too_long": 1, "response_too_short": 1,
                                 "response_too_long": 1, "response_not_eu": 1}
    assert out.examples["generation_error"] == "r7" and out.examples["instruction_not_eu"] == "r5"
    assert [out.examples[r] for r in ("instruction_too_long", "response_too_short", "response_too_long",
                                      "response_not_eu")] == ["r11", "r12", "r13", "r14"]
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


def test_vllm_command_missing_is_a_clear_error(tiny_model_dir, tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:9", tiny_model_dir,
                          server={"type": "vllm", "tp": 1, "vllm_command": str(tmp_path / "no-venv" / "bin" / "vllm")})
    result = CliRunner().invoke(main, ["recipe", "synth", "--config", str(config)])
    assert result.exit_code == 2 and "vllm-requirements.txt" in result.output and "server.vllm_command" in result.output


def test_vllm_is_started_with_the_command_line_datatrove_would_run(tiny_model_dir, tmp_path):
    from recipes.synth.launch_vllm import command_line
    from recipes.synth.pipeline import LAUNCH_VLLM, inference_config

    cfg = load_config(write_config(tmp_path, "http://127.0.0.1:9", tiny_model_dir, server={
        "type": "vllm", "tp": 2, "dp": 4, "model_max_context": 4096, "vllm_command": f"{sys.executable} -m vllm.x",
        "vllm_args": {"gpu-memory-utilization": 0.9, "enable-prefix-caching": True, "enforce-eager": False}}))
    ic = inference_config(cfg)
    assert ic.server_type == "custom" and ic.model_kwargs["server_script"] == str(LAUNCH_VLLM)
    assert ic.model_kwargs["command"] == f"{sys.executable} -m vllm.x" and ic.model_kwargs["tp"] == 2
    assert command_line("/v/bin/vllm", "meta-llama/Llama-3.1-8B-Instruct", 8123, 4096, tp=2, dp=4, served_name="tiny",
                        extra={"gpu-memory-utilization": 0.9, "enable-prefix-caching": True, "enforce-eager": False}) == [
        "/v/bin/vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8123", "--max-model-len", "4096",
        "--disable-uvicorn-access-log", "--gpu-memory-utilization=0.9", "--enable-prefix-caching", "--no-enforce-eager",
        "--tensor-parallel-size=2", "--data-parallel-size=4", "--served-model-name=tiny"]


@pytest.mark.slow
def test_datatrove_starts_vllm_from_the_configured_command(tiny_model_dir, tmp_path):
    """server.type vllm end to end, with a stand-in for vLLM's CLI that serves the same API on CPU."""
    cfg = load_config(write_config(tmp_path, "http://127.0.0.1:9", tiny_model_dir, num_samples=6,
                                   executor={"tasks": 1, "workers": 1}, server={
                                       "type": "vllm", "vllm_command": f"{sys.executable} -m hub_tools.serving.vllm_cli",
                                       "vllm_args": {"gpu-memory-utilization": 0.9}, "request_timeout": 60,
                                       "start_timeout": 120}))
    result = run_synth(cfg)
    assert_accounted(result, 6)
    assert result.statistics["server"] == "vllm" and result.statistics["generation"]["requests"] >= 6
    assert validate_artifact(result.output).ok()


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
        if cfg.server.type == "vllm":  # no vLLM environment here: the same clear error as the CLI gives
            with pytest.raises(ConfigError, match="vllm-requirements.txt"):
                inference_config(cfg)
        else:
            assert inference_config(cfg).server_type == cfg.server.type
    assert servers["llama31-8b-magpie"] == servers["llama31-70b-backtranslate-slurm"] == "vllm"
    assert load_config(configs[[p.stem for p in configs].index("llama31-70b-backtranslate-slurm")]).executor.type \
        == "slurm"
