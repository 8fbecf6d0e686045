"""The evaluate recipe: score a model (or an adapter on its base) on jsonl task files with metric
modules shipped in the project and loaded by path through the `evaluate` library.

- generation tasks (MT, QA): greedy decoding, then BLEU/chrF (sacrebleu) and exact match;
- multiple-choice tasks: the log-likelihood of each option after the prompt; the best one is the answer.

Each score carries its standard error (``args.stderr``), computed as lm-evaluation-harness computes it:
the sample standard error of the mean for accuracy (items are right or wrong), and for the generation
metrics (corpus BLEU and chrF, exact match) the standard deviation of the metric over 100 bootstrap
resamples of the items, seeded, so the same predictions give the same errors. `hubtool diff` uses them
to say whether a score moved beyond its error.

Results are written in hubtool's eval-results JSON, which `hubtool card` turns into `model-index`.
"""
from __future__ import annotations

import json
import math
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
METRICS_DIR = HERE / "metrics"
TASKS_DIR = HERE / "tasks"
RECIPE_VERSION = "1.1"  # 1.1: standard errors


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str  # generation | multiple_choice
    file: str
    prompt: str
    metrics: tuple[str, ...]
    task_type: str
    pretty: str
    references_key: str = "references"


TASKS = {
    "mt_en_eu": TaskSpec("mt_en_eu", "generation", "mt_en_eu.jsonl", "Itzuli euskarara: {source}",
                         ("sacrebleu_bleu", "sacrebleu_chrf"), "translation", "Machine translation en-eu"),
    "qa_eu": TaskSpec("qa_eu", "generation", "qa_eu.jsonl", "{question}", ("exact_match", "sacrebleu_chrf"),
                      "question-answering", "Question answering (eu)"),
    "mcqa_eu": TaskSpec("mcqa_eu", "multiple_choice", "mcqa_eu.jsonl", "{question}", ("accuracy",),
                        "multiple-choice", "Multiple-choice QA (eu)"),
}
BOOTSTRAP_ITERS, BOOTSTRAP_SEED = 100, 1234  # lm-evaluation-harness: 100 resamples for BLEU/chrF
METRIC_KEYS = {"sacrebleu_bleu": ("bleu", "score", "BLEU"), "sacrebleu_chrf": ("chrf", "score", "chrF"),
               "exact_match": ("exact_match", "exact_match", "Exact match"),
               "accuracy": ("accuracy", "accuracy", "Accuracy")}


def load_metric(name: str):
    """A metric module shipped in recipes/evaluate/metrics, loaded by path (no Hub access)."""
    import evaluate

    return evaluate.load(str(METRICS_DIR / name))


def read_task(spec: TaskSpec, limit: int | None = None, tasks_dir: Path = TASKS_DIR) -> list[dict]:
    rows = [json.loads(line) for line in (tasks_dir / spec.file).read_text(encoding="utf-8").splitlines() if line]
    return rows[:limit] if limit else rows


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    chat: bool
    name: str


def load_model(model: str, adapter: str | None = None, model_revision: str | None = None,
               adapter_revision: str | None = None, chat: bool = True) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter or model, revision=adapter_revision if adapter else model_revision)
    lm = AutoModelForCausalLM.from_pretrained(model, revision=model_revision)
    if adapter:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, adapter, revision=adapter_revision)
    lm.eval()
    return LoadedModel(lm, tokenizer, chat and bool(tokenizer.chat_template), adapter or model)


def prompt_ids(m: LoadedModel, text: str) -> list[int]:
    if m.chat:
        return m.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]
    return m.tokenizer(text)["input_ids"]


def generate(m: LoadedModel, text: str, max_new_tokens: int) -> str:
    import torch

    ids = torch.tensor([prompt_ids(m, text)])
    with torch.no_grad():
        out = m.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                               do_sample=False, pad_token_id=m.tokenizer.pad_token_id or m.tokenizer.eos_token_id)
    return m.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def choice_loglikelihoods(m: LoadedModel, text: str, choices: list[str]) -> list[float]:
    """Sum of log-probabilities of each choice's tokens after the prompt (as lm-eval's loglikelihood)."""
    import torch

    context = prompt_ids(m, text)
    scores = []
    for choice in choices:
        cont = m.tokenizer(choice, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([context + cont])
        with torch.no_grad():
            logprobs = torch.log_softmax(m.model(input_ids=ids).logits[0].float(), dim=-1)
        positions = range(len(context) - 1, len(context) + len(cont) - 1)
        scores.append(float(sum(logprobs[p, tok] for p, tok in zip(positions, cont))))
    return scores


@dataclass
class TaskResult:
    spec: TaskSpec
    scores: dict[str, float]
    samples: list[dict] = field(default_factory=list)
    stderrs: dict[str, float] = field(default_factory=dict)


def mean_stderr(values: list[float]) -> float | None:
    """Sample standard deviation / sqrt(n): the standard error of a mean over items (None below 2 items)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None


def bootstrap_stderr(metric, field_name: str, predictions: list, references: list,
                     iters: int = BOOTSTRAP_ITERS, seed: int = BOOTSTRAP_SEED) -> float | None:
    """The standard deviation of a corpus-level metric over ``iters`` resamples (with replacement) of the
    items, seeded: the same predictions give the same error (None below 2 items)."""
    n = len(predictions)
    if n < 2:
        return None
    rng = random.Random(seed)
    values = []
    for _ in range(iters):
        picks = [rng.randrange(n) for _ in range(n)]
        values.append(metric.compute(predictions=[predictions[i] for i in picks],
                                     references=[references[i] for i in picks])[field_name])
    return statistics.stdev(values)


def run_task(m: LoadedModel, spec: TaskSpec, limit: int | None = None, max_new_tokens: int = 32,
             tasks_dir: Path = TASKS_DIR) -> TaskResult:
    rows = read_task(spec, limit, tasks_dir)
    samples, scores = [], {}
    if spec.kind == "generation":
        predictions = [generate(m, spec.prompt.format(**r), max_new_tokens) for r in rows]
        references = [r[spec.references_key] for r in rows]
        stderrs = {}
        for name in spec.metrics:
            key, field_name, _ = METRIC_KEYS[name]
            metric = load_metric(name)
            scores[key] = metric.compute(predictions=predictions, references=references)[field_name]
            stderrs[key] = bootstrap_stderr(metric, field_name, predictions, references)
        samples = [{"id": r["id"], "prediction": p, "references": r[spec.references_key]}
                   for r, p in zip(rows, predictions)]
    else:
        predictions = []
        for r in rows:
            ll = choice_loglikelihoods(m, spec.prompt.format(**r), r["choices"])
            predictions.append(max(range(len(ll)), key=ll.__getitem__))
            samples.append({"id": r["id"], "loglikelihoods": ll, "prediction": predictions[-1], "answer": r["answer"]})
        answers = [r["answer"] for r in rows]
        scores["accuracy"] = load_metric("accuracy").compute(predictions=predictions, references=answers)["accuracy"]
        stderrs = {"accuracy": mean_stderr([float(p == a) for p, a in zip(predictions, answers)])}
    return TaskResult(spec, scores, samples, {k: v for k, v in stderrs.items() if v is not None})


def results_document(results: list[TaskResult], model_name: str, extra_provenance: dict | None = None) -> dict:
    """hubtool's eval-results JSON (what `hubtool card` reads): one entry per task, metrics inside."""
    entries = []
    for r in results:
        metrics = []
        for name in r.spec.metrics:
            key, _, pretty = METRIC_KEYS[name]
            if key in r.scores and not math.isnan(r.scores[key]):
                metric = {"type": key, "name": pretty, "value": round(r.scores[key], 4)}
                if r.stderrs.get(key) is not None and not math.isnan(r.stderrs[key]):
                    metric["args"] = {"stderr": round(r.stderrs[key], 4)}
                metrics.append(metric)
        entries.append({"task": {"type": r.spec.task_type, "name": r.spec.pretty},
                        "dataset": {"type": f"hubtool-samples/{r.spec.name}", "name": r.spec.name, "split": "test",
                                    "args": {"num_fewshot": 0}},
                        "metrics": metrics})
    return {"model": model_name, "results": entries,
            "provenance": {"recipe": {"name": "evaluate", "version": RECIPE_VERSION},
                           "samples": {r.spec.name: len(r.samples) for r in results}, **(extra_provenance or {})}}


def evaluate_to_file(model: str, out: Path, adapter: str | None = None, model_revision: str | None = None,
                     adapter_revision: str | None = None, tasks: tuple[str, ...] = tuple(TASKS),
                     limit: int | None = None, max_new_tokens: int = 32, name: str | None = None,
                     record: dict | None = None, on_step=None) -> dict:
    """Score a model (or an adapter on its base), write the results JSON (what `eval_results:` points at) and
    its per-sample predictions next to it (``.samples.jsonl``). ``name`` and ``record`` are what the results
    say about the model (a Hub id and revisions, never a local path); they default to the arguments."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; available: {', '.join(TASKS)}")
    m = load_model(model, adapter, model_revision, adapter_revision)
    results = []
    for task in tasks:
        if on_step:
            on_step(f"evaluate: {task}")
        results.append(run_task(m, TASKS[task], limit, max_new_tokens))
    doc = results_document(results, name or adapter or model, extra_provenance={
        **(record if record is not None else {"model": model, "model_revision": model_revision, "adapter": adapter,
                                              "adapter_revision": adapter_revision}),
        "tasks": list(tasks), "limit": limit, "max_new_tokens": max_new_tokens})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    out.with_suffix(".samples.jsonl").write_text("".join(json.dumps({"task": r.spec.name, **s}, ensure_ascii=False)
                                                         + "\n" for r in results for s in r.samples))
    return doc
