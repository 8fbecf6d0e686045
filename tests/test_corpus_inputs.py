"""The corpus recipe on awkward input: broken encodings, nothing usable, a huge single line, a language it
cannot identify, per-source licences, its thresholds command; its output always passes `hubtool validate`."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from hub_tools.cli import main
from recipes.corpus.config import ConfigError, load_config
from recipes.corpus.pipeline import run_corpus

ROOT = Path(__file__).resolve().parent.parent
EVALSET = ROOT / "recipes" / "corpus" / "evalset"
BASQUE = [json.loads(line)["text"] for line in gzip.open(EVALSET / "eu_treebank.jsonl.gz", "rt")][:12]
ENGLISH = [json.loads(line)["text"] for line in gzip.open(EVALSET / "books.jsonl.gz", "rt")][:6]


def write_jsonl(path: Path, texts: list[str], prefix: str) -> Path:
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def web_windows_1252(data: bytes) -> str:
    """Bytes decoded as browsers decode "windows-1252" (WHATWG): undefined bytes become C1 controls."""
    out = []
    for b in data:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out)


def config(tmp_path: Path, sources: list[dict], **extra) -> Path:
    cfg = {"name": "eu-test", "language": "eu", "sources": sources, "output": str(tmp_path / "out"),
           "executor": {"type": "local", "tasks": 1, "workers": 1},
           "steps": {"quality": {"gopher": {"min_doc_words": 30}}}, **extra}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def rows(folder: Path) -> dict[str, str]:
    return {r["id"]: r["text"] for f in sorted((folder / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()}


def test_control_characters_and_mojibake_are_repaired_and_the_output_validates(tmp_path):
    """A tweet decoded as Windows-1252 leaves C1 controls (U+0093/U+0094 for curly quotes); UTF-8 read as
    Windows-1252 leaves mojibake ("Ã±" for "ñ"); a stray BEL and a U+FFFD come from elsewhere."""
    quoted = "Kazetariak esan zuen \u201cez dago arazorik\u201d eta Iruñeko bileran ñabardura asko izan ziren. " + BASQUE[0]
    c1 = quoted.replace("\u201c", "\x93").replace("\u201d", "\x94")
    accented = "Iruñeko bileran ñabardura asko izan ziren, eta “bai” esan zuten. " + BASQUE[3]
    mojibake = web_windows_1252(accented.encode("utf-8"))
    assert "\x93" in c1 and "Ã±" in mojibake
    src = write_jsonl(tmp_path / "broken.jsonl", [c1, mojibake, BASQUE[1] + " \x07 eta \ufffd", BASQUE[2]], "b")
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(config(tmp_path, [
        {"name": "tweets", "path": str(src), "license": "cc-by-4.0"}]))])
    assert result.exit_code == 0, result.output
    out = rows(tmp_path / "out")
    assert out["b0"] == quoted and out["b1"] == accented
    assert "\x07" not in out["b2"] and "\ufffd" not in out["b2"]
    check = CliRunner().invoke(main, ["validate", str(tmp_path / "out")])
    assert check.exit_code == 0, check.output


def test_an_input_that_yields_no_rows_exits_1_with_the_reason(tmp_path):
    src = write_jsonl(tmp_path / "en.jsonl", ENGLISH, "en")
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(config(tmp_path, [
        {"name": "english", "path": str(src)}]))])
    assert result.exit_code == 1
    assert "no document survived" in result.output and f"language_en {len(ENGLISH)}" in result.output
    assert not (tmp_path / "out").exists()


def test_a_50_mb_single_line_file_is_skipped_unread_and_counted(tmp_path):
    huge = tmp_path / "dump.txt"
    with huge.open("w") as f:
        for _ in range(50):
            f.write("euskara " * 125_000)  # 1 MB a time: 50 MB, no newline
    assert huge.stat().st_size == 50_000_000
    good = write_jsonl(tmp_path / "good.jsonl", BASQUE[:4], "g")
    cfg = config(tmp_path, [{"name": "dump", "path": str(huge)}, {"name": "good", "path": str(good)}])
    result = run_corpus(load_config(cfg))
    assert [(p["source"], p["line"], p["reason"]) for p in result.problems] == [("dump", 1, "line_too_long")]
    assert "50,000,000 bytes" in result.problems[0]["detail"]
    length = next(s for s in result.steps if "length" in str(s["step"]))
    assert length["in"] == 4  # the line never became a document: nothing downstream saw it
    alone = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(config(tmp_path, [
        {"name": "dump", "path": str(huge)}]))])
    assert alone.exit_code == 1 and "line_too_long 1" in alone.output and "0 document(s) read" in alone.output


def test_a_long_document_is_dropped_before_tokenisation(tmp_path):
    src = write_jsonl(tmp_path / "docs.jsonl", [BASQUE[0] * 40, BASQUE[1]], "d")
    result = run_corpus(load_config(config(tmp_path, [{"name": "s", "path": str(src)}],
                                           limits={"max_doc_chars": 5_000, "max_line_chars": 5_000})))
    length = next(s for s in result.steps if "length" in str(s["step"]))
    assert length["reasons"] == {"too_long": 1} and set(rows(result.output)) == {"d1"}


def test_an_unknown_language_code_is_a_config_error_naming_the_key(tmp_path):
    cfg = config(tmp_path, [{"name": "s", "path": "x.jsonl"}], language="gl")
    with pytest.raises(ConfigError, match=r"cfg\.yaml: language: .*'gl' is not a language lingua can identify"):
        load_config(cfg)
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(cfg)])
    assert result.exit_code == 2 and "language:" in result.output and "'gl'" in result.output


def test_a_language_without_thresholds_profile_names_the_key(tmp_path):
    cfg = config(tmp_path, [{"name": "s", "path": "x.jsonl"}], language="es")
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(cfg)])
    assert result.exit_code == 2 and "steps.quality.thresholds" in result.output
    assert "hubtool recipe corpus-thresholds" in result.output


def test_the_thresholds_command_derives_a_profile_that_the_recipe_uses(tmp_path):
    # 25 documents of 40 words; document i has words of i % 5 + 4 letters and i % 4 digit-only words
    docs = []
    for i in range(25):
        letters = "abcdefghij"[: i % 5 + 4]
        words = ["eta", "da", "ez"] + [letters] * (37 - i % 4) + ["1234"] * (i % 4)
        docs.append(" ".join(words))
    sample = write_jsonl(tmp_path / "sample.jsonl", docs, "s")
    result = CliRunner().invoke(main, ["recipe", "corpus-thresholds", "--sample", str(sample), "--language", "eu",
                                       "--output", str(tmp_path / "eu.json"), "--tolerance", "0.01",
                                       "--stop-words", "3"])
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "eu.json").read_text())
    t = profile["thresholds"]
    # averages: (3 short words + (37 - k) words of L letters + k four-digit words) / 40, L in 4..8
    averages = [(2 + 3 + 2 + (37 - i % 4) * (i % 5 + 4) + 4 * (i % 4)) / 40 for i in range(25)]
    assert t["min_avg_word_length"] == math.floor(min(averages) * 100) / 100 == 3.87
    assert t["max_avg_word_length"] == math.ceil(max(averages) * 100) / 100 == 7.58
    assert t["min_alpha_words_ratio"] == 0.92  # 3 digit-only words of 40
    assert set(t["stop_words"]) == {"eta", "da", "ez"}  # in every document; digit-only words never count
    assert profile["derived_from"]["documents"] == 25 and profile["derived_from"]["source"] == "sample.jsonl"
    # a profile no Basque text meets: the recipe must use it (everything dropped -> exit 1)
    t["min_avg_word_length"] = 20
    (tmp_path / "strict.json").write_text(json.dumps(profile))
    src = write_jsonl(tmp_path / "eu.jsonl", BASQUE[:3], "e")
    cfg = config(tmp_path, [{"name": "s", "path": str(src)}],
                 steps={"quality": {"thresholds": "strict.json", "gopher": {"min_doc_words": 30}}})
    run = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(cfg)])
    assert run.exit_code == 1 and "gopher_below_avg_word_length 3" in run.output


def test_per_source_licences_reach_hubtool_json_and_the_card_without_local_paths(tmp_path):
    a = write_jsonl(tmp_path / "treebank.jsonl", BASQUE[:5], "t")
    b = write_jsonl(tmp_path / "po.jsonl", BASQUE[5:10], "p")
    cfg = config(tmp_path, [{"name": "treebank", "path": str(a), "license": "cc-by-nc-sa-3.0",
                             "attribution": "UD Basque-BDT, IXA group"},
                            {"name": "po", "path": str(b), "license": "gpl-3.0", "attribution": "dpkg translators"}])
    result = CliRunner().invoke(main, ["recipe", "corpus", "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    prov = json.loads((out / "hubtool.json").read_text())
    assert prov["card"]["license"] == "other"
    assert prov["statistics"]["sources"] == [
        {"source": "treebank", "license": "cc-by-nc-sa-3.0", "attribution": "UD Basque-BDT, IXA group"},
        {"source": "po", "license": "gpl-3.0", "attribution": "dpkg translators"}]
    assert {i["name"]: i["rows"] for i in prov["inputs"]} == {"source:treebank": 5, "source:po": 5}
    card = CliRunner().invoke(main, ["card", str(out), "--repo", "hitz/eu-test"])
    assert card.exit_code == 0, card.output
    readme = (out / "README.md").read_text()
    assert "license: other" in readme
    assert "| treebank | `cc-by-nc-sa-3.0` | UD Basque-BDT, IXA group |" in readme
    assert "| po | `gpl-3.0` | dpkg translators |" in readme
    for text in (readme, (out / "hubtool.json").read_text()):
        assert str(tmp_path) not in text and "/tmp" not in text
    assert prov["config"]["output"] == "out" and prov["config"]["sources"][0]["path"] == "treebank.jsonl"


def test_sources_sharing_one_licence_give_the_artifact_that_licence(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", BASQUE[:4], "a")
    cfg = config(tmp_path, [{"name": "a", "path": str(a), "license": "cc-by-sa-4.0"}])
    result = run_corpus(load_config(cfg))
    assert result.license == "cc-by-sa-4.0"
    bad = config(tmp_path, [{"name": "a", "path": str(a), "license": "cc-by-sa-4"}])
    with pytest.raises(ConfigError, match=r"sources\.0\.license: .*unknown licence id 'cc-by-sa-4'"):
        load_config(bad)
