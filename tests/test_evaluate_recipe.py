"""The evaluate recipe on a tiny local model: metrics equal direct computations; harness import."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sacrebleu
import torch
from click.testing import CliRunner
from huggingface_hub import ModelCard

from hub_tools.cli import main
from recipes.evaluate.lm_eval_import import import_file
from recipes.evaluate.runner import TASKS, load_model, read_task, run_task

FIXTURE = Path(__file__).parent / "fixtures" / "lm_eval_results.json"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_bleu_and_chrf_equal_sacrebleu_on_the_same_outputs(tiny):
    result = run_task(tiny, TASKS["mt_en_eu"], max_new_tokens=8)
    predictions = [s["prediction"] for s in result.samples]
    references = [s["references"][0] for s in result.samples]
    assert len(predictions) == 8 and all(isinstance(p, str) for p in predictions)
    assert result.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score, abs=1e-9)
    assert result.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, [references]).score, abs=1e-9)
    # standard errors: 100 seeded resamples of the items, recomputed here with sacrebleu itself
    import random
    import statistics

    rng, bleus, chrfs = random.Random(1234), [], []
    for _ in range(100):
        picks = [rng.randrange(8) for _ in range(8)]
        hyp, ref = [predictions[i] for i in picks], [[references[i] for i in picks]]
        bleus.append(sacrebleu.corpus_bleu(hyp, ref).score)
        chrfs.append(sacrebleu.corpus_chrf(hyp, ref).score)
    assert result.stderrs["bleu"] == pytest.approx(statistics.stdev(bleus), abs=1e-9)
    assert result.stderrs["chrf"] == pytest.approx(statistics.stdev(chrfs), abs=1e-9)


def test_bleu_and_chrf_modules_are_right_on_known_outputs():
    """Hand-computed values, independent of sacrebleu and of the recipe."""
    from recipes.evaluate.runner import load_metric

    bleu, chrf = load_metric("sacrebleu_bleu"), load_metric("sacrebleu_chrf")
    refs = [["Gaur eguraldi ona egiten du Donostian."], ["Nire etxea mendiaren ondoan dago."]]
    perfect = [r[0] for r in refs]
    assert bleu.compute(predictions=perfect, references=refs)["score"] == pytest.approx(100.0)
    assert chrf.compute(predictions=perfect, references=refs)["score"] == pytest.approx(100.0)
    # "Gaur eguraldi ona egiten du" against "... du Donostian .": every 1- to 4-gram of the 5-token hypothesis
    # matches (precision 1), the reference has 7 tokens (13a splits off the final "."), so BLEU = 100 * BP
    # with BP = exp(1 - 7/5).
    short = bleu.compute(predictions=["Gaur eguraldi ona egiten du"], references=[refs[0]])["score"]
    assert short == pytest.approx(100 * math.exp(1 - 7 / 5), abs=1e-6)
    # nothing in common: no 1-gram of "xyz" occurs in the reference
    assert bleu.compute(predictions=["xyz"], references=[refs[1]])["score"] == pytest.approx(0.0)
    assert chrf.compute(predictions=["", ""], references=refs)["score"] == pytest.approx(0.0)
    em = load_metric("exact_match").compute(predictions=["gasteiz.", "Bilbo"], references=[["Gasteiz"], ["Iruñea"]])
    assert em["exact_match"] == 0.5
    from recipes.evaluate.runner import bootstrap_stderr, mean_stderr

    # every resample of perfect outputs scores 100: no spread; one item: no error estimate
    assert bootstrap_stderr(bleu, "score", perfect, refs) == 0.0
    assert bootstrap_stderr(bleu, "score", perfect[:1], refs[:1]) is None
    assert mean_stderr([1.0, 0.0, 1.0, 0.0]) == pytest.approx(math.sqrt(1 / 3) / 2)
    # one right and one wrong output: resamples score 0, 100 or in between; the same spread by hand
    import random
    import statistics

    mixed = [refs[0][0], "xyz"]
    rng, by_hand = random.Random(1234), []
    for _ in range(100):
        picks = [rng.randrange(2) for _ in range(2)]
        by_hand.append(sacrebleu.corpus_chrf([mixed[i] for i in picks], [[refs[i][0] for i in picks]]).score)
    spread = bootstrap_stderr(chrf, "score", mixed, refs)
    assert spread == pytest.approx(statistics.stdev(by_hand), abs=1e-9) and spread > 10


def test_generation_metrics_are_computed_on_the_model_outputs(tiny_model_dir, tmp_path):
    """A task whose references are exactly what the model generates must score 100: metrics computed on empty
    or wrong strings would give 0. (Without its chat template the random tiny model writes visible text.)"""
    from recipes.evaluate.runner import TaskSpec, generate

    tiny = load_model(str(tiny_model_dir), chat=False)
    rows = read_task(TASKS["mt_en_eu"])[:2]
    outputs = [generate(tiny, TASKS["mt_en_eu"].prompt.format(**r), 6) for r in rows]
    assert all(o.strip() for o in outputs)
    (tmp_path / "echo.jsonl").write_text("".join(json.dumps({"id": r["id"], "source": r["source"], "references": [o]})
                                                 + "\n" for r, o in zip(rows, outputs)))
    spec = TaskSpec("echo", "generation", "echo.jsonl", TASKS["mt_en_eu"].prompt, ("sacrebleu_chrf", "exact_match"),
                    "translation", "echo")
    result = run_task(tiny, spec, max_new_tokens=6, tasks_dir=tmp_path)
    assert [s["prediction"] for s in result.samples] == outputs
    assert result.scores["chrf"] == pytest.approx(100.0) and result.scores["exact_match"] == 1.0


def test_multiple_choice_accuracy_equals_a_reference_computation(tiny):
    result = run_task(tiny, TASKS["mcqa_eu"])
    rows = read_task(TASKS["mcqa_eu"])
    tok, model = tiny.tokenizer, tiny.model
    expected = []
    for row in rows:  # independent: score the full sequence once per choice, sum the choice tokens' log-probs
        ctx = tok.apply_chat_template([{"role": "user", "content": row["question"]}], add_generation_prompt=True,
                                      tokenize=True, return_dict=True)["input_ids"]
        lls = []
        for choice in row["choices"]:
            cont = tok(choice, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([ctx + cont])).logits[0]
            lls.append(sum(torch.log_softmax(logits[len(ctx) - 1 + i], -1)[t].item() for i, t in enumerate(cont)))
        expected.append(max(range(len(lls)), key=lls.__getitem__))
    assert [s["prediction"] for s in result.samples] == expected
    assert result.scores["accuracy"] == pytest.approx(sum(p == r["answer"] for p, r in zip(expected, rows)) / len(rows))
    p, n = result.scores["accuracy"], len(rows)  # the standard error of a proportion, by hand
    assert result.stderrs["accuracy"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), abs=1e-12)


def test_cli_writes_results_that_cards_turn_into_model_index(tiny_model_dir, tmp_path, sample_release):
    out = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["recipe", "evaluate", "--model", str(tiny_model_dir), "--tasks",
                                       "mt_en_eu,mcqa_eu", "--limit", "3", "--max-new-tokens", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [r["task"]["type"] for r in doc["results"]] == ["translation", "multiple-choice"]
    assert {m["type"] for m in doc["results"][0]["metrics"]} == {"bleu", "chrf"}
    assert len(out.with_suffix(".samples.jsonl").read_text().splitlines()) == 6
    # the card turns these results into model-index: render it and read the values back
    from hub_tools.publish.cards import CardContext, render_card

    card = ModelCard(render_card(sample_release.parent / "models" / "exp_2_111", CardContext(
        name="exp_2_111", kind="adapter", repo_id="hitz/latxa-instruct", license="llama3.1", languages=["eu"],
        revision="exp_2_111", eval_results=out)))
    got = {(r.task_name, r.metric_type): (r.metric_value, (r.metric_args or {}).get("stderr"))
           for r in card.data.eval_results}
    want = {(r["task"]["name"], m["type"]): (m["value"], m["args"]["stderr"]) for r in doc["results"]
            for m in r["metrics"]}
    assert got == want and len(want) == 3
    mc = next(r for r in card.data.eval_results if r.metric_type == "accuracy")
    assert mc.task_type == "multiple-choice" and mc.dataset_type == "hubtool-samples/mcqa_eu"
    assert card.data.to_dict()["model-index"][0]["name"] == "hitz/latxa-instruct"


def test_lm_eval_harness_json_becomes_model_index_entries(tmp_path, sample_release):
    from hub_tools.publish.cards import CardContext, render_card

    doc = import_file(FIXTURE, model_name="hitz/latxa-instruct")
    assert "hf_AbCd" not in json.dumps(doc) and "/home/me" not in json.dumps(doc)  # model_args not copied
    assert doc["source"]["name"] == "lm-evaluation-harness (git b281b09)"
    assert doc["provenance"]["task_versions"]["flores_en-eu"] == 2.0
    results = tmp_path / "harness.json"
    results.write_text(json.dumps(doc))
    adapter = sample_release.parent / "models" / "exp_2_111"
    card = ModelCard(render_card(adapter, CardContext(
        name="exp_2_111", kind="adapter", repo_id="hitz/latxa-instruct", license="llama3.1", languages=["eu"],
        revision="exp_2_111", eval_results=results)))
    got = {(r.task_name, r.metric_type): r for r in card.data.eval_results}
    assert set(got) == {("eus_exams_eu_opeosakiadmineu", "acc"), ("xstorycloze_eu", "acc"),
                        ("flores_en-eu", "bleu"), ("flores_en-eu", "chrf")}
    exams = got[("eus_exams_eu_opeosakiadmineu", "acc")]
    assert (exams.metric_value, exams.dataset_type, exams.dataset_config, exams.dataset_split) == (
        0.4512, "HiTZ/EusExams", "eu_opeosakiadmineu", "test")
    assert exams.dataset_args == {"num_fewshot": 5} and exams.task_type == "multiple-choice"
    assert exams.metric_args["stderr"] == 0.0121 and exams.metric_args["task_version"] == 1.0
    flores = got[("flores_en-eu", "bleu")]
    assert flores.metric_value == 12.34 and flores.task_type == "text-generation" and "stderr" not in flores.metric_args
    assert card.data.to_dict()["model-index"][0]["name"] == "hitz/latxa-instruct"
    assert "| eus_exams_eu_opeosakiadmineu | eus_exams_eu_opeosakiadmineu | test | 5 | acc | 0.4512 ± 0.0121 |" in card.text


def test_import_refuses_what_is_not_a_harness_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"score": 1}')
    result = CliRunner().invoke(main, ["recipe", "import-lm-eval", str(bad), "--out", str(tmp_path / "o.json")])
    assert result.exit_code == 1 and "no `results` mapping" in result.output


# --- lm-evaluation-harness: run it, import whole result directories ------------------------------------

RESULTS_DIR = Path(__file__).parent / "fixtures" / "lm_eval_results_dir"


def test_a_directory_of_real_harness_results_imports_in_one_call(tmp_path):
    """Four files the study published for one variant (one harness call per task, two harness versions)."""
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["recipe", "import-lm-eval", str(RESULTS_DIR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["model"] == "HiTZ/Latxa-Llama-3.1-8B-Instruct" and doc["provenance"]["model_revision"] == "exp_2_111"
    assert doc["provenance"]["runs"] == 4
    rows = {r["task"]["name"]: r for r in doc["results"]}
    assert len(rows) == 3 + 34  # arc_eu_challenge, xstorycloze_eu, mgsm_native_cot_eu; eus_exams_eu: 1 + 4 + 29
    exams = rows["eus_exams_eu"]
    assert exams["task"]["type"] == "multiple-choice"  # a group row typed from its subtasks
    assert exams["dataset"]["args"] == {"num_fewshot": 5, "subtasks": [
        "eus_exams_eu_public_office", "eus_exams_eu_city_council", "eus_exams_eu_university",
        "eus_exams_eu_health_system"]}
    assert exams["metrics"] == [{"type": "acc", "value": 0.562325, "name": "acc", "args": {
        "filter": "none", "stderr": 0.0039285826270286425, "task_version": 1.0}}]
    health = rows["eus_exams_eu_health_system"]
    assert health["dataset"]["args"]["group"] == "eus_exams_eu" and len(health["dataset"]["args"]["subtasks"]) == 14
    leaf = rows["eus_exams_eu_osakidetza6e"]
    assert leaf["dataset"]["args"] == {"num_fewshot": 5, "group": "eus_exams_eu_health_system"}
    assert leaf["dataset"]["name"] == "eus_exams_eu_osakidetza6e" and leaf["metrics"][0]["value"] == 0.64
    mgsm = {m["name"]: m for m in rows["mgsm_native_cot_eu"]["metrics"]}
    assert set(mgsm) == {"exact_match (flexible-extract)", "exact_match (strict-match)"}
    assert mgsm["exact_match (strict-match)"]["value"] == 0.376
    assert mgsm["exact_match (flexible-extract)"]["args"]["stderr"] == 0.031682156431413803
    assert rows["arc_eu_challenge"]["dataset"]["args"] == {"num_fewshot": 5}
    names = [r["task"]["name"] for r in doc["results"]]
    assert names.index("eus_exams_eu") < names.index("eus_exams_eu_health_system") < names.index(
        "eus_exams_eu_osakidetza6e")  # groups before their members, as the harness prints them
    assert doc["source"]["name"].startswith("lm-evaluation-harness 0.4.8 (git 07a2384) and 1 other")
    assert doc["provenance"]["harness_per_task"]["arc_eu_challenge"]["git_hash"] == "fede5c0"
    assert "attn_implementation" not in json.dumps(doc)  # model_args are not copied


def test_a_harness_model_name_that_is_a_local_path_is_not_published(tmp_path):
    doc = import_file(FIXTURE)  # its model_name is /home/me/private/ckpt
    assert doc["model"] is None and "/home/me" not in json.dumps(doc)


@pytest.mark.slow
def test_lm_eval_runs_the_bundled_group_on_cpu_and_its_results_reach_the_card(tiny_model_dir, tmp_path,
                                                                             sample_release):
    import lm_eval

    out = tmp_path / "results.json"
    result = CliRunner().invoke(main, [
        "recipe", "lm-eval", "--model", str(tiny_model_dir), "--model-name", "hitz/tiny-eu", "--tasks", "hubtool_eu",
        "--num-fewshot", "0", "--batch-size", "2", "--device", "cpu", "--model-arg", "dtype=float32",
        "--output-dir", str(tmp_path / "harness"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["model"] == "hitz/tiny-eu" and doc["provenance"]["harness"]["version"] == lm_eval.__version__
    rows = {r["task"]["name"]: r for r in doc["results"]}
    assert set(rows) == {"hubtool_eu", "hubtool_mcqa_eu", "hubtool_qa_eu"}
    assert rows["hubtool_eu"]["dataset"]["args"]["subtasks"] == ["hubtool_mcqa_eu", "hubtool_qa_eu"]
    assert rows["hubtool_mcqa_eu"]["dataset"]["args"] == {"num_fewshot": 0, "group": "hubtool_eu"}
    assert rows["hubtool_mcqa_eu"]["task"]["type"] == "multiple-choice"
    assert rows["hubtool_qa_eu"]["task"]["type"] == "text-generation"
    assert {m["name"] for m in rows["hubtool_qa_eu"]["metrics"]} == {"exact_match (strip)"}
    acc = next(m for m in rows["hubtool_mcqa_eu"]["metrics"] if m["type"] == "acc")
    # independent: the harness's zero-shot multiple choice is the argmax of the summed log-probabilities of
    # " <choice>" after "Galdera: <question>\nErantzuna:"
    tiny = load_model(str(tiny_model_dir), chat=False)
    hits = 0
    for row in read_task(TASKS["mcqa_eu"]):
        context = tiny.tokenizer(f"Galdera: {row['question']}\nErantzuna:")["input_ids"]
        scores = []
        for choice in row["choices"]:
            whole = tiny.tokenizer(f"Galdera: {row['question']}\nErantzuna: {choice}")["input_ids"]
            cont = whole[len(context):]
            with torch.no_grad():
                logprobs = torch.log_softmax(tiny.model(input_ids=torch.tensor([whole])).logits[0].float(), -1)
            scores.append(sum(float(logprobs[len(context) - 1 + i, t]) for i, t in enumerate(cont)))
        hits += max(range(len(scores)), key=scores.__getitem__) == row["answer"]
    assert acc["value"] == pytest.approx(hits / 6, abs=1e-6)
    card = ModelCard(render_card_for(sample_release, out))
    assert {(r.task_name, r.metric_name) for r in card.data.eval_results} >= {
        ("hubtool_eu", "acc"), ("hubtool_mcqa_eu", "acc"), ("hubtool_qa_eu", "exact_match (strip)")}


def render_card_for(sample_release, results: Path) -> str:
    from hub_tools.publish.cards import CardContext, render_card

    return render_card(sample_release.parent / "models" / "exp_2_111", CardContext(
        name="exp_2_111", kind="adapter", repo_id="hitz/tiny-eu", license="llama3.1", languages=["eu"],
        revision="exp_2_111", eval_results=results))
