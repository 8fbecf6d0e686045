"""The evaluate recipe on a tiny local model: metrics equal direct computations; harness import."""
from __future__ import annotations

import json
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


def test_bleu_module_is_right_on_known_outputs():
    from recipes.evaluate.runner import load_metric

    refs = [["Gaur eguraldi ona egiten du Donostian."], ["Nire etxea mendiaren ondoan dago."]]
    perfect = load_metric("sacrebleu_bleu").compute(predictions=[r[0] for r in refs], references=refs)
    assert perfect["score"] == pytest.approx(100.0)
    em = load_metric("exact_match").compute(predictions=["gasteiz.", "Bilbo"], references=[["Gasteiz"], ["Iruñea"]])
    assert em["exact_match"] == 0.5


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


def test_cli_writes_results_that_cards_turn_into_model_index(tiny_model_dir, tmp_path):
    out = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["recipe", "evaluate", "--model", str(tiny_model_dir), "--tasks",
                                       "mt_en_eu,mcqa_eu", "--limit", "3", "--max-new-tokens", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [r["task"]["type"] for r in doc["results"]] == ["translation", "multiple-choice"]
    assert {m["type"] for m in doc["results"][0]["metrics"]} == {"bleu", "chrf"}
    assert len(out.with_suffix(".samples.jsonl").read_text().splitlines()) == 6


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
