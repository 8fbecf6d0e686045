"""The corpus recipe on the bundled sample: every filter removes what was planted, nothing else."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from hub_tools.cli import main
from recipes.corpus.blocks import InputProblem
from recipes.corpus.config import load_config
from recipes.corpus.pipeline import run_corpus

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "recipes" / "configs" / "corpus" / "tiny.yaml"
SAMPLE = ROOT / "recipes" / "corpus" / "sample"
PLANTED = json.loads((SAMPLE / "PLANTED.json").read_text())
PII_VALUES = ["ane.etxeberria@adibidea.eus", "info@herriko-elkartea.org", "+34 943 123 456", "688 12 34 56",
              "192.168.10.45", "10.2.33.7"]


def rows(folder: Path) -> list[dict]:
    return [r for f in sorted((folder / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def step(result, needle: str) -> dict:
    return next(s for s in result.steps if needle in str(s["step"]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "eu"
    return run_corpus(load_config(TINY), output=out)


def test_filters_remove_exactly_what_was_planted(tiny_run):
    kept = rows(tiny_run.output)
    assert len(kept) == PLANTED["expected_kept"] == sum(tiny_run.rows.values())
    lang = step(tiny_run, "language ID")
    assert lang["reasons"]["language_es"] == PLANTED["spanish"]
    assert lang["reasons"]["language_en"] >= PLANTED["english"]
    dedup = step(tiny_run, "dedup filter")["reasons"]
    assert dedup == {"exact_duplicate": PLANTED["exact_duplicates"], "near_duplicate": PLANTED["near_duplicates"]}
    assert {r["language"] for r in kept} == {"eu"}
    assert not any(r["id"].startswith(("forum-es", "forum-en", "forum-junk")) for r in kept)
    assert len({r["text"] for r in kept}) == len(kept)  # one survivor per duplicate group (either member)
    assert all(r["id"].startswith("forum-copy") for r in kept if r["source"] == "forum")


def test_pii_is_scrubbed_and_counted(tiny_run):
    texts = "\n".join(r["text"] for r in rows(tiny_run.output))
    assert not any(value in texts for value in PII_VALUES)
    assert texts.count("<EMAIL>") == PLANTED["pii"]["email"] and texts.count("<IP>") == PLANTED["pii"]["ip"]
    assert texts.count("<PHONE>") == PLANTED["pii"]["phone"]
    # what the published rows had replaced, and what they still hold: counted separately, over them only
    assert tiny_run.pii["replaced"] == PLANTED["pii"] and tiny_run.pii["placeholders"] == PLANTED["pii"]
    assert tiny_run.pii["contains"] == {}
    assert tiny_run.pii["replaced_all_documents"]["email"] >= PLANTED["pii"]["email"]


def test_split_is_deterministic_across_runs_and_worker_counts(tiny_run, tmp_path):
    def assignment(folder):
        return {r["text"]: f.name.split("-")[0] for f in (folder / "data").glob("*.parquet")
                for r in pq.read_table(f).to_pylist()}

    first = assignment(tiny_run.output)
    again = run_corpus(load_config(TINY), output=tmp_path / "again", workers=2)
    assert assignment(again.output) == first
    assert again.rows == tiny_run.rows and set(first.values()) == {"train", "validation"}


def test_output_validates_has_provenance_and_loads(tiny_run, api, repo_name, tmp_path):
    from hub_tools.artifacts.provenance import read_provenance
    from hub_tools.publish.push import push
    from hub_tools.validate import validate_artifact

    report = validate_artifact(tiny_run.output)
    assert report.ok(strict=True), [f.to_dict() for f in report.findings]
    prov = read_provenance(tiny_run.output)
    assert prov.kind == "corpus" and prov.recipe.name == "corpus" and prov.statistics["rows"] == tiny_run.rows
    assert {i.name for i in prov.inputs} == {"source:wiki", "source:news", "source:forum", "source:books"}
    assert all(len(i.sha256) == 64 for i in prov.inputs)
    local = datasets.load_dataset(str(tiny_run.output), cache_dir=str(tmp_path / "c1"))
    assert {s: len(local[s]) for s in local} == tiny_run.rows
    repo = f"hitz/{repo_name}"
    push(api, tiny_run.output, repo, "dataset", "main", "corpus recipe output")
    remote = datasets.load_dataset(repo, cache_dir=str(tmp_path / "c2"))
    assert sorted(remote["train"]["text"]) == sorted(local["train"]["text"])


def _config_with(tmp_path: Path, sources: list[dict], on_error: str) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    cfg.update(sources=sources, on_error=on_error, output=str(tmp_path / "out"))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture()
def bad_sources(tmp_path) -> list[dict]:
    good = [json.dumps({"id": f"g{i}", "text": t}) for i, t in
            enumerate(json.loads(l)["text"] for l in gzip.open(SAMPLE / "eu_wiki.jsonl.gz", "rt"))][:30]
    (tmp_path / "bad.jsonl").write_bytes(
        ("\n".join(good[:10]) + "\n").encode() + b'{"id": "x", "text": "bad \xff byte"}\n'
        + b'{"id": "y", "text": "unterminated\n' + ("\n".join(good[10:20]) + "\n").encode())
    (tmp_path / "broken.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not gzip at all")
    (tmp_path / "empty.txt").write_text("")
    return [{"name": "mixed", "path": str(tmp_path / "bad.jsonl")},
            {"name": "broken", "path": str(tmp_path / "broken.jsonl.gz")},
            {"name": "empty", "path": str(tmp_path / "empty.txt")}]


def test_bad_input_is_skipped_and_counted_with_file_and_line(tmp_path, bad_sources):
    result = run_corpus(load_config(_config_with(tmp_path, bad_sources, "skip")))
    found = {(p["source"], Path(p["file"]).name, p["line"], p["reason"]) for p in result.problems}
    assert ("mixed", "bad.jsonl", 11, "invalid_utf8") in found
    assert ("mixed", "bad.jsonl", 12, "malformed_json") in found
    assert any(s == "broken" and r == "unreadable_file" for s, _, _, r in found)
    assert any(s == "empty" and r == "empty_source" for s, _, _, r in found)
    assert sum(result.rows.values()) == 20  # every good line survived
    from hub_tools.artifacts.provenance import read_provenance

    problems = read_provenance(result.output).statistics["problems"]
    assert problems["count"] == len(result.problems) == 4
    assert problems["by_reason"] == {"empty_source": 1, "invalid_utf8": 1, "malformed_json": 1, "unreadable_file": 1}


@pytest.mark.parametrize("which, message", [("mixed", "bad.jsonl:11: invalid_utf8"),
                                            ("broken", "broken.jsonl.gz: unreadable_file"),
                                            ("empty", "empty.txt: empty_source")])
def test_bad_input_stops_the_run_when_configured(tmp_path, bad_sources, which, message):
    sources = [s for s in bad_sources if s["name"] == which]
    with pytest.raises(InputProblem, match=message.replace(".", r"\.")):
        run_corpus(load_config(_config_with(tmp_path, sources, "stop")))
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(tmp_path / "cfg.yaml")])
    assert result.exit_code == 1 and message in result.output and "on_error: stop" in result.output


def test_cli_summary_and_config_errors(tmp_path):
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(TINY), "--output", str(tmp_path / "o"),
                                       "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == {"train": 227, "validation": 33}
    assert any("language ID" in str(s["step"]) and s["dropped"] for s in summary["steps"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsources: [{name: a}]\nsteps: {dedup: true}\n")
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(bad)])
    assert result.exit_code == 2 and "sources.0" in result.output and "steps.dedup" in result.output


def test_the_executor_setting_switches_engines_without_changing_the_pipeline(tmp_path):
    """Slurm is out of reach here; what is checked: the same stages go to SlurmPipelineExecutor with the
    config's resources, chained by dependencies (constructing it submits nothing)."""
    from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor

    from recipes.corpus.pipeline import build_stages
    from recipes.executors import make_executor

    def executor(config, stage, logs, depends=None):
        return make_executor(config.executor, stage.pipeline, stage.tasks, logs, stage.name, 1, depends)

    cfg = load_config(ROOT / "recipes" / "configs" / "corpus" / "slurm.yaml")
    local = load_config(TINY)
    stages = build_stages(cfg, tmp_path)
    assert [s.name for s in stages] == [s.name for s in build_stages(local, tmp_path)]
    first = executor(cfg, stages[0], tmp_path / "logs")
    second = executor(cfg, stages[1], tmp_path / "logs", first)
    assert isinstance(first, SlurmPipelineExecutor) and second.depends is first
    assert first.world_size == 512 and (first.partition, first.time) == ("cpu", "12:00:00")
    assert isinstance(executor(local, build_stages(local, tmp_path)[0], tmp_path / "l"), LocalPipelineExecutor)


def test_a_source_can_be_a_hub_dataset_repo(api, repo_name, tmp_path):
    import pyarrow as pa

    texts = [json.loads(l)["text"] for l in gzip.open(SAMPLE / "eu_wiki.jsonl.gz", "rt")][:25]  # originals
    folder = tmp_path / "hubsrc"
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"id": f"h{i}", "text": t} for i, t in enumerate(texts)]),
                   folder / "data" / "train-00000-of-00001.parquet")
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)
    result = run_corpus(load_config(_config_with(tmp_path, [{"name": "hub", "hub": repo, "split": "train"}], "stop")))
    kept = rows(result.output)
    assert {r["source"] for r in kept} == {"hub"}
    assert len(kept) == len(texts) == len(set(texts))  # unique Basque originals: all survive


def test_card_lists_sources_filters_and_statistics(tiny_run):
    from huggingface_hub import DatasetCard

    from hub_tools.publish.cards import CardContext, render_card

    card = DatasetCard(render_card(tiny_run.output, CardContext(
        name="eu", kind="corpus", repo_id="hitz/eu-corpus", license="cc0-1.0", languages=["eu"])))
    text = card.text
    assert "## Processing" in text and "## Sources" in text
    lang = step(tiny_run, "language ID")
    assert f"🌍 language ID | {lang['in']:,} | {lang['out']:,} | {lang['dropped']:,} |" in text
    removed = PLANTED["exact_duplicates"] + PLANTED["near_duplicates"]
    assert f"| split-write | 🫂 - DEDUP: 🫂 dedup filter | 290 | 260 | {removed} |" in text
    assert "| wiki |" in text and "| news |" in text
    pii = PLANTED["pii"]
    assert (f"PII in the published rows: replaced by placeholders: email {pii['email']}, phone {pii['phone']}, "
            f"ip {pii['ip']}; still found by the same detectors: none.") in text
    assert "| wiki | `cc0-1.0` | hubtool sample (generated) |" in text
    assert card.data.to_dict()["dataset_info"][0]["splits"][0]["num_examples"] == tiny_run.rows["train"]
