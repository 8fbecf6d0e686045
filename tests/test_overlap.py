"""The overlap check between a release's evaluation sets and its training artifacts."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from hub_tools.artifacts.manifest import load_manifest
from hub_tools.cli import main
from hub_tools.publish.cards import context_for, render_card
from hub_tools.text.ngrams import ngram_hashes, normalise
from hub_tools.validate import validate_manifest

# an evaluation set of long items (n = 13 needs items of at least 13 words)
ITEMS = [
    {"id": "long-1", "question": "Zein da Euskal Herriko mendirik garaiena eta zenbat metro ditu gailurrerainoko bideak "
                                 "udako egun argi batean?", "answer": "Hiru mila"},
    {"id": "long-2", "question": "Nork idatzi zuen euskarazko lehen liburua eta zein urtetan argitaratu zen Bordelen "
                                 "inprimategi batean?", "answer": "Etxepare"},
    {"id": "long-3", "question": "Zergatik dira hain garrantzitsuak itsasoko korronteak Bizkaiko golkoko arrantzaleentzat "
                                 "negu luze eta gogorretan?", "answer": "Arrainak"},
]


def _write_eval(path, items=ITEMS):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")


def _add_instructions(folder, rows):
    shard = folder / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(shard)
    pq.write_table(pa.concat_tables([table, pa.Table.from_pylist(rows, schema=table.schema)]), shard)


def _instruction(i, text):
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Bai."}],
            "source_id": f"planted-{i}"}


@pytest.fixture()
def manifest(release):
    _write_eval(release.parent / "tasks" / "long_qa.jsonl")
    data = yaml.safe_load(release.read_text())
    data["validation"] = {"overlap": {"n": 13, "max_fraction": 0.5,
                                      "evaluation_sets": [{"name": "long_qa", "path": "tasks/long_qa.jsonl"}]}}
    release.write_text(yaml.safe_dump(data, sort_keys=False))
    return release


def test_normalisation_ignores_case_whitespace_and_punctuation():
    assert normalise(["  Zein da\tArabako\n HIRIBURUA?! ", "zein da arabako hiriburua"]).to_pylist() == [
        ["zein", "da", "arabako", "hiriburua"]] * 2
    a, _ = ngram_hashes(["Zein da  Arabako HIRIBURUA?"], 3)
    b, _ = ngram_hashes(["zein da arabako hiriburua"], 3)
    assert a.tolist() == b.tolist() and len(a) == 2
    # an n-gram never spans two texts, and a text shorter than n has none
    h, owner = ngram_hashes(["bat bi", "hiru lau bost"], 3)
    assert len(h) == 1 and owner.tolist() == [1]
    assert len(ngram_hashes(["bat bi hiru"], 4)[0]) == 0


def test_a_copied_item_is_reported_with_its_id_and_a_partial_one_is_not(manifest):
    copied = "  zein DA euskal herriko   MENDIRIK garaiena eta zenbat metro\nditu gailurrerainoko bideak " \
             "UDAKO egun argi batean"  # long-1: other case, whitespace, no punctuation
    words = ITEMS[1]["question"].rstrip("?").split()
    partial = " ".join(words[:12]) + " baina ez dago " + " ".join(words[12:])  # 12 words, a break, then the rest
    assert len(words) >= 13
    folder = manifest.parent / "instructions"
    before = pq.read_metadata(folder / "data" / "train-00000-of-00001.parquet").num_rows
    _add_instructions(folder, [_instruction(0, partial), _instruction(1, copied)])
    report = validate_manifest(load_manifest(manifest))
    hits = [f for f in report.findings if f.code == "HT601"]
    assert len(hits) == 1 and hits[0].artifact == "instructions" and hits[0].severity == "warning"
    assert "long-1 (data/train-00000-of-00001.parquet row " + str(before + 1) + ")" in hits[0].message
    assert "long-2" not in hits[0].message and "1 of 3 item(s)" in hits[0].message
    assert not [f for f in report.findings if f.code == "HT602"]  # 1 of 3 is under max_fraction 0.5
    overlap = report.statistics["instructions"]["overlap"]
    assert overlap["n"] == 13 and overlap["training"] == ["corpus", "instructions", "preferences"]
    assert overlap["sets"] == [{"name": "long_qa", "items": 3, "checked": 3, "overlapping": 1,
                                "fraction": round(1 / 3, 6), "found_in": {"instructions": 1}, "ids": ["long-1"]}]
    # the card prints the counts of this run
    m = load_manifest(manifest)
    art = next(a for a in m.artifacts if a.name == "instructions")
    card = render_card(m.artifact_path(art), context_for(m, art), report.statistics["instructions"])
    assert "## Overlap with evaluation sets" in card and "word 13-grams" in card
    assert "| long_qa | 3 | 3 | 1 | 33.3% | instructions: 1 |" in card
    assert "Overlapping items of long_qa: `long-1`." in card


def test_above_the_configured_fraction_is_an_error(manifest):
    _add_instructions(manifest.parent / "instructions",
                      [_instruction(i, item["question"].upper()) for i, item in enumerate(ITEMS[:2])])
    result = CliRunner().invoke(main, ["validate", str(manifest), "--json"])
    out = json.loads(result.stdout)
    assert result.exit_code == 1
    [error] = [f for f in out["findings"] if f["code"] == "HT602"]
    assert "2 of 3 items (66.7%)" in error["message"] and "limit of 50.0%" in error["message"]
    assert error["field"] == "validation.overlap" and error["line"] is not None


def test_an_eval_artifact_is_checked_and_short_items_are_counted_as_not_checked(manifest, tmp_path):
    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance

    folder = manifest.parent / "evalset"
    rows = [{"id": "e-1", "text": "Laburra da hau."}, {"id": "e-2", "text": ITEMS[2]["question"]}]
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data" / "test-00000-of-00001.parquet")
    write_provenance(folder, Provenance.create(kind="eval", name="evalset", language=["eu"],
                                               recipe=RecipeInfo(name="test", version="1")))
    data = yaml.safe_load(manifest.read_text())
    data["artifacts"].append({"name": "evalset", "kind": "eval", "path": "evalset", "repo": "basque-sample-eval"})
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    _add_instructions(manifest.parent / "instructions", [_instruction(0, "Galdera: " + ITEMS[2]["question"])])
    report = validate_manifest(load_manifest(manifest))
    sets = {s["name"]: s for s in report.statistics["evalset"]["overlap"]["sets"]}
    assert sets["evalset"] == {"name": "evalset", "items": 2, "checked": 1, "overlapping": 1, "fraction": 0.5,
                               "found_in": {"instructions": 1}, "ids": ["e-2"]}
    assert sets["long_qa"]["ids"] == ["long-3"]


def test_a_missing_evaluation_set_is_a_manifest_error(manifest):
    data = yaml.safe_load(manifest.read_text())
    data["validation"]["overlap"]["evaluation_sets"][0]["path"] = "tasks/nope.jsonl"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    report = validate_manifest(load_manifest(manifest))
    [f] = [f for f in report.findings if f.code == "HT003"]
    assert "tasks/nope.jsonl" in f.message and f.field == "validation.overlap.evaluation_sets.0.path"
