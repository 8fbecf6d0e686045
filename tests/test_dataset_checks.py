"""The per-row and per-file decisions of dataset validation (hub_tools/validate/dataset_checks.py), row by row:
which columns each kind needs, which rows are malformed (HT103) and why, and what a text is checked for
(HT109 control characters, HT110 secrets, HT111 e-mails). End to end, through `hubtool validate` on real
artifacts, in test_validate.py."""
from __future__ import annotations

import pytest

from hub_tools.validate.dataset_checks import check_text, required_columns, row_text


@pytest.mark.parametrize("kind, columns, missing", [
    ("corpus", {"text", "id"}, []),
    ("corpus", {"id", "content"}, ["text"]),
    ("instructions", {"messages"}, []),
    ("instructions", {"prompt", "completion"}, ["messages"]),
    ("preferences", {"prompt", "chosen", "rejected"}, []),
    ("preferences", {"model_a", "model_b", "winner", "extra"}, []),
    ("preferences", {"prompt", "completion", "label"}, []),
    ("preferences", {"prompt", "chosen"}, ["rejected", "(or model_a, model_b, winner; or prompt, completion, label)"]),
    ("preferences", {"model_a", "model_b"}, ["prompt", "chosen", "rejected",
                                             "(or model_a, model_b, winner; or prompt, completion, label)"]),
    ("eval", {"question"}, []),
    ("eval", set(), ["(any column)"]),
])
def test_required_columns_per_kind(kind, columns, missing):
    assert required_columns(kind, columns) == missing


def _turns(*roles: str) -> list[dict]:
    return [{"role": r, "content": f"{r} turn"} for r in roles]


@pytest.mark.parametrize("messages, problem", [
    (_turns("user", "assistant"), None),
    (_turns("system", "user", "assistant"), None),
    (_turns("user", "assistant", "user", "assistant"), None),
    (None, "'messages' must be a non-empty list of {role, content}"),
    ([], "'messages' must be a non-empty list of {role, content}"),
    ("user: hi", "'messages' must be a non-empty list of {role, content}"),
    ([{"role": "user", "content": "hi"}, "assistant: hello"],
     "messages[1] must be {role: system|user|assistant, content: string}"),
    ([{"role": "user", "content": 3}], "messages[0] must be {role: system|user|assistant, content: string}"),
    ([{"role": "human", "content": "hi"}], "messages[0] must be {role: system|user|assistant, content: string}"),
    ([{"content": "hi"}], "messages[0] must be {role: system|user|assistant, content: string}"),
    (_turns("user", "system", "assistant"), "messages[1]: a system turn may only come first"),
    (_turns("system", "assistant"), "'messages' has no user turn"),
    (_turns("assistant"), "'messages' has no user turn"),
    (_turns("user"), "'messages' must end with an assistant turn (it ends with user)"),
    (_turns("system", "user", "assistant", "user"), "'messages' must end with an assistant turn (it ends with user)"),
])
def test_instruction_rows(messages, problem):
    text, found, field = row_text("instructions", {"messages": messages})
    assert (found, field) == (problem, "messages")
    if isinstance(messages, list) and problem is None:
        assert text == "\n".join(f"{m['role']} turn" for m in messages)  # every turn's content is checked


def test_instruction_text_keeps_only_string_contents():
    rows = [{"role": "user", "content": "Kaixo"}, "stray", {"role": "assistant", "content": 5},
            {"role": "assistant"}, {"role": "assistant", "content": "Zer moduz?"}]
    assert row_text("instructions", {"messages": rows})[0] == "Kaixo\nZer moduz?"


@pytest.mark.parametrize("row, expected", [
    ({"text": "Kaixo mundua"}, ("Kaixo mundua", None, "text")),
    ({"text": 7}, ("", "'text' must be a string", "text")),
    ({"text": None}, ("", "'text' must be a string", "text")),
    ({"id": "x"}, ("", "'text' must be a string", "text")),
])
def test_corpus_rows(row, expected):
    assert row_text("corpus", row) == expected


@pytest.mark.parametrize("row, expected", [
    ({"prompt": "Galdera", "chosen": "Ona", "rejected": "Txarra"}, ("Galdera\nOna\nTxarra", None, None)),
    ({"prompt": _turns("user"), "chosen": _turns("assistant"), "rejected": "Ez"},
     ("user turn\nassistant turn\nEz", None, None)),
    ({"prompt": "Galdera", "completion": "Erantzuna", "label": True}, ("Galdera\nErantzuna", None, None)),
    ({"prompt": "Galdera", "completion": "Erantzuna", "label": "yes"},
     ("", "'label' must be true or false, not 'yes'", "label")),
    ({"prompt": "Galdera", "completion": "Erantzuna", "label": 1},
     ("", "'label' must be true or false, not 1", "label")),
    ({"model_a": "a", "model_b": "b", "winner": "tie (bothbad)", "conv_a": _turns("user", "assistant"),
      "conv_b": "B"}, ("user turn\nassistant turn\nB", None, None)),
    ({"model_a": "a", "model_b": "b", "winner": "both"},
     ("", "winner 'both' is not one of model_a, model_b, tie, tie (bothbad)", "winner")),
    ({"model_a": "a", "model_b": "b", "winner": None},
     ("", "winner None is not one of model_a, model_b, tie, tie (bothbad)", "winner")),
    ({"prompt": "Galdera", "chosen": 3, "rejected": "Txarra"},
     ("", "'chosen' must be a string or a list of messages", "chosen")),
    ({"prompt": "Galdera", "chosen": "Ona", "rejected": {"text": "x"}},
     ("", "'rejected' must be a string or a list of messages", "rejected")),
    ({"prompt": "Galdera", "completion": None, "label": False},
     ("", "'completion' must be a string or a list of messages", "completion")),
])
def test_preference_rows(row, expected):
    assert row_text("preferences", row) == expected


def test_other_kinds_check_every_string_column():
    assert row_text("eval", {"question": "Zein?", "answer": "Hau", "score": 3, "choices": ["a", "b"]}) == (
        "Zein?\nHau", None, None)


@pytest.mark.parametrize("text, found", [
    ("Kaixo mundua, zer moduz?\tOndo.\r\n", []),
    ("Kaixo\x07 mundua", [("HT109", "control character U+0007 at offset 5")]),
    ("\x00", [("HT109", "control character U+0000 at offset 0")]),
    ("a\x0bb", [("HT109", "control character U+000B at offset 1")]),
    ("a\x1fb\x7f", [("HT109", "control character U+001F at offset 1")]),       # the first one
    ("ab\x85", [("HT109", "control character U+0085 at offset 2")]),          # C1 control
    ("caf\ufffd", [("HT109", "U+FFFD (a decoding error upstream) at offset 3")]),
    ("Nire tokena hf_" + "a1B2c3D4e5" * 4 + " da",
     [("HT110", "Hugging Face token at offset 12 (hf_a1B…)")]),
    ("key=sk-proj-" + "x" * 30, [("HT110", "OpenAI key at offset 4 (sk-pro…)")]),
    ("AKIAIOSFODNN7EXAMPLE here", [("HT110", "AWS access key at offset 0 (AKIAIO…)")]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", [("HT110", "private key at offset 0 (-----B…)")]),
    ("hf_short sk-short", []),                                                  # needles without a match
    ("Idatzi iker@adibidea.eus helbidera.", [("HT111", "e-mail address at offset 7")]),
    ("iker at adibidea.eus", []),
    ("\x07 iker@adibidea.eus hf_" + "Z" * 34, [("HT109", "control character U+0007 at offset 0"),
                                               ("HT110", "Hugging Face token at offset 20 (hf_ZZZ…)"),
                                               ("HT111", "e-mail address at offset 2")]),
])
def test_what_a_text_is_checked_for(text, found):
    assert check_text(text) == found


# -- combining the files of a split: features, unreadable shards, leakage, statistics --------------------------
import shutil  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from hub_tools.artifacts.manifest import ValidationSettings  # noqa: E402
from hub_tools.validate import validate_artifact  # noqa: E402

TRAIN = "data/train-00000-of-00001.parquet"
VALID = "data/validation-00000-of-00001.parquet"


@pytest.fixture()
def corpus(release, tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(release.parent / "corpus", folder)
    return folder


def _rows(folder, rel=TRAIN) -> list[dict]:
    return pq.read_table(folder / rel).to_pylist()


def _write(folder, rel, rows) -> None:
    pq.write_table(pa.Table.from_pylist(rows), folder / rel)


def _split_train(folder, second: list[dict]) -> None:
    """Train as two shards: the sample's rows, then ``second``."""
    rows = _rows(folder)
    (folder / TRAIN).unlink()
    _write(folder, "data/train-00000-of-00002.parquet", rows)
    _write(folder, "data/train-00001-of-00002.parquet", second)


@pytest.mark.parametrize("change", ["extra column", "column missing"])
def test_features_that_differ_either_way_are_ht104(corpus, change):
    rows = _rows(corpus)
    second = ([{**r, "zzz_extra": 1} for r in rows[:3]] if change == "extra column"
              else [{k: v for k, v in r.items() if k != "id"} for r in rows[:3]])
    _split_train(corpus, second)
    hits = [f for f in validate_artifact(corpus, name="corpus").findings if f.code == "HT104"]
    assert [(f.file, f.severity) for f in hits] == [("data/train-00001-of-00002.parquet", "error")]
    # the reference is the config's first file scanned: evaluation splits go first
    assert f"differ from {VALID} [id: string, text: string, source: string]" in hits[0].message


def test_an_unreadable_shard_does_not_hide_the_next_one(corpus):
    rows = _rows(corpus)
    _split_train(corpus, [{**rows[0], "text": "  "}] + rows[1:3])
    (corpus / "data/train-00000-of-00002.parquet").write_bytes(b"PAR1 not really parquet")
    found = [(f.code, f.file, f.row) for f in validate_artifact(corpus, name="corpus").findings]
    assert ("HT101", "data/train-00000-of-00002.parquet", None) in found
    assert ("HT105", "data/train-00001-of-00002.parquet", 0) in found


def test_only_train_is_checked_for_evaluation_rows(corpus):
    """A row in both validation and test is not a leak into train (HT107 is about train)."""
    valid = _rows(corpus, VALID)
    _write(corpus, "data/test-00000-of-00001.parquet", valid[:2])
    found = {f.code for f in validate_artifact(corpus, name="corpus").findings}
    assert "HT107" not in found and "HT106" not in found  # split by split, not across them


def test_words_per_row_statistics(corpus):
    """Hand-computed, with the percentile at 0-based rank k = int(p * (n - 1)) of the sorted counts: train rows
    of 1..20 words (p5 -> k 0, p50 -> k 9, p95 -> k 18); validation rows of 1, 1 and 2 words (p95 -> k 1;
    mean 4/3)."""
    train = [{"id": f"t{n}", "text": " ".join(["hitz"] * n) + "."} for n in range(1, 21)]
    valid = [{"id": "v1", "text": "Kaixo."}, {"id": "v2", "text": "Agur."}, {"id": "v3", "text": "Egun on."}]
    _write(corpus, TRAIN, train)
    _write(corpus, VALID, valid)
    stats = validate_artifact(corpus, name="corpus").statistics["corpus"]["configs"]["default"]["splits"]
    assert stats["train"]["rows"] == 20 and stats["train"]["words"] == 210
    assert stats["train"]["words_per_row"] == {"min": 1, "p5": 1, "p50": 10, "p95": 19, "max": 20, "mean": 10.5}
    assert stats["validation"]["words_per_row"] == {"min": 1, "p5": 1, "p50": 1, "p95": 1, "max": 2, "mean": 1.33}
    assert stats["validation"]["chars"] == len("Kaixo.") + len("Agur.") + len("Egun on.")


def test_a_row_shared_by_two_evaluation_splits_is_not_a_leak(corpus):
    """dev and test hold the same rows (dev is scanned first, so test is compared with it): HT107 is only about
    train, also for an evaluation split whose name sorts before 'train'."""
    valid = _rows(corpus, VALID)
    _write(corpus, "data/dev-00000-of-00001.parquet", valid[:2])
    _write(corpus, "data/test-00000-of-00001.parquet", valid[:2])
    found = {f.code for f in validate_artifact(corpus, name="corpus").findings}
    assert "HT107" not in found and "HT106" not in found


def test_missing_columns_name_what_was_found_and_the_next_shard_is_still_checked(corpus):
    rows = _rows(corpus)
    _split_train(corpus, [{**rows[0], "text": "Kaixo\x07 mundua."}] + rows[1:3])
    _write(corpus, "data/train-00000-of-00002.parquet", [{"id": r["id"], "source": r["source"]} for r in rows])
    found = validate_artifact(corpus, name="corpus").findings
    ht102 = [f for f in found if f.code == "HT102"]
    assert [(f.file, f.message) for f in ht102] == [
        ("data/train-00000-of-00002.parquet", "corpus data needs column(s) text; found ['id', 'source']")]
    assert ("HT109", "data/train-00001-of-00002.parquet", 0) in [(f.code, f.file, f.row) for f in found]


def test_source_counts_add_up_over_the_shards_of_every_split(corpus):
    train = [{"id": f"t{i}", "text": f"Lerro zenbakia {i} da hau.", "source": s}
             for i, s in enumerate(["wiki", "news", "wiki", "forum", "wiki"])]
    valid = [{"id": "v1", "text": "Beste lerro bat da hau.", "source": "news"}]
    (corpus / TRAIN).unlink()
    _write(corpus, "data/train-00000-of-00002.parquet", train[:2])
    _write(corpus, "data/train-00001-of-00002.parquet", train[2:])
    _write(corpus, VALID, valid)
    stats = validate_artifact(corpus, name="corpus").statistics["corpus"]
    assert stats["sources"] == {"wiki": 3, "news": 2, "forum": 1}


def test_an_empty_split_has_zero_words_per_row(corpus):
    table = pq.read_table(corpus / TRAIN).schema.empty_table()
    pq.write_table(table, corpus / VALID)
    stats = validate_artifact(corpus, name="corpus").statistics["corpus"]["configs"]["default"]["splits"]
    assert stats["validation"]["rows"] == 0 and stats["validation"]["words_per_row"]["mean"] == 0


# Sentences long enough for the language detector to be sure of; 4 of 11 train rows are Basque.
EU = ["Euskara Euskal Herriko hizkuntza da, eta milaka urteko historia du gure herrian.",
      "Gaur goizean mendira joan gara lagunekin eta eguraldi ederra egin du egun osoan.",
      "Liburutegian liburu berriak daude eta haurrek asko irakurtzen dute udan zehar.",
      "Donostiako hondartzan jende asko ibili da igande arratsaldean eguzkia hartzen."]
OTHERS = {"es": ["El gobierno anunció ayer nuevas medidas para mejorar la educación pública en todo el país.",
                 "Mañana por la mañana iremos al mercado para comprar frutas y verduras frescas."],
          "en": ["The weather was beautiful yesterday, so we decided to walk along the river after lunch.",
                 "Our team finished the project ahead of schedule and the client was very pleased with it.",
                 "The library in the town centre will stay open all summer long for students and visitors."],
          "fr": ["Nous sommes allés au marché ce matin pour acheter du pain frais et des fromages."],
          "de": ["Wir sind gestern mit dem Zug nach Berlin gefahren und haben dort alte Freunde besucht."]}
EU_VALID = ["Etxe berria eraikitzeko baimena eman du udalak azken batzarrean, eta lanak laster hasiko dira.",
            "Ikasleek azterketak gainditu dituzte eta oporretara joateko prest daude orain, pozik."]
CONSIDERED = ["en", "es", "fr", "de"]


def _mixed_languages(corpus) -> None:
    texts = EU + [t for group in OTHERS.values() for t in group]
    rows = [{"id": f"t{i}", "text": t, "source": "mix"} for i, t in enumerate(texts)]
    (corpus / TRAIN).unlink()
    _write(corpus, "data/train-00000-of-00002.parquet", rows[:6])
    _write(corpus, "data/train-00001-of-00002.parquet", rows[6:])
    _write(corpus, VALID, [{"id": f"v{i}", "text": t, "source": "mix"} for i, t in enumerate(EU_VALID)])


def test_a_split_below_the_language_threshold_names_its_share_and_the_other_languages(corpus):
    _mixed_languages(corpus)
    report = validate_artifact(corpus, languages=["eu"], settings=ValidationSettings(languages_considered=CONSIDERED),
                               name="corpus")
    ht108 = [f for f in report.findings if f.code == "HT108"]
    assert len(ht108) == 1 and ht108[0].file == "data/train-00000-of-00002.parquet"  # the split's first file
    head = "config 'default' split 'train': 36% of 11 sampled rows are in eu (threshold 80%); others: en: 3, es: 2, "
    assert ht108[0].message in (head + "fr: 1", head + "de: 1")  # the three most frequent (fr and de tie)
    stats = report.statistics["corpus"]
    assert stats["language_share_by_split"] == {"default/train": round(4 / 11, 4), "default/validation": 1.0}
    expected = {"eu": 6, "en": 3, "es": 2, "fr": 1, "de": 1}  # of the 13 sampled rows of both splits
    assert stats["language_share"] == pytest.approx({k: round(n / 13, 4) for k, n in expected.items()}, abs=1e-9)


def test_a_share_exactly_at_the_threshold_passes(corpus):
    _mixed_languages(corpus)
    settings = ValidationSettings(languages_considered=CONSIDERED, language_threshold=4 / 11)
    report = validate_artifact(corpus, languages=["eu"], settings=settings, name="corpus")
    assert "HT108" not in {f.code for f in report.findings}


def test_no_declared_language_means_no_language_statistics(corpus):
    _mixed_languages(corpus)
    report = validate_artifact(corpus, languages=[], name="corpus")
    stats = report.statistics["corpus"]
    assert "language_share" not in stats and "language_share_by_split" not in stats
    assert "HT108" not in {f.code for f in report.findings}
