"""`hubtool validate`: each check has a good artifact that passes and a broken twin that fails with its
code at the right location."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from hub_tools.cli import main

SPANISH = [f"Hoy es un día {adj} para pasear por la ciudad con los amigos." for adj in
           ("bonito", "soleado", "tranquilo", "perfecto", "estupendo", "agradable", "precioso", "magnífico")] + \
          [f"El tren de las {h} llega siempre con retraso a la estación." for h in range(1, 13)]


def run(path, *args) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["validate", str(path), "--json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def codes(findings) -> set[str]:
    return {f["code"] for f in findings}


def only(findings, code) -> dict:
    hits = [f for f in findings if f["code"] == code]
    assert hits, findings
    return hits[0]


def rows_of(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def write_rows(path: Path, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path)


TRAIN = "data/train-00000-of-00001.parquet"
VALID = "data/validation-00000-of-00001.parquet"


# -- good artifacts -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["corpus", "instructions", "preferences", "models/base", "models/exp_2_111", "space"])
def test_good_artifacts_pass(release, name):
    code, findings = run(release.parent / name)
    # alone, an adapter's base (another artifact of the release, not yet published) cannot be resolved
    expected = {"HT209"} if name.startswith("models/exp") else set()
    assert code == 0 and codes(findings) == expected


def test_good_release_passes(release):
    assert run(release) == (0, [])


# -- provenance --------------------------------------------------------------------------------------
def test_ht001_missing_or_invalid_provenance(release):
    corpus = release.parent / "corpus"
    prov = json.loads((corpus / "hubtool.json").read_text())
    prov["kind"] = "nonsense"
    (corpus / "hubtool.json").write_text(json.dumps(prov))
    code, findings = run(corpus)
    assert code == 1 and only(findings, "HT001")["field"] == "kind"
    (corpus / "hubtool.json").unlink()
    code, findings = run(corpus)
    assert code == 1 and only(findings, "HT001")["file"] == "hubtool.json"


def test_ht002_kind_mismatch(release):
    code, findings = run(release.parent / "corpus", "--kind", "instructions")
    assert code == 1 and only(findings, "HT002")["field"] == "kind"


# -- datasets ----------------------------------------------------------------------------------------
def test_ht101_unreadable_file(release):
    shard = release.parent / "corpus" / TRAIN
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    code, findings = run(release.parent / "corpus")
    assert code == 1 and only(findings, "HT101")["file"] == TRAIN


def test_ht101_malformed_jsonl_line(release):
    corpus = release.parent / "corpus"
    rows = rows_of(corpus / TRAIN)
    (corpus / TRAIN).unlink()
    (corpus / VALID).unlink()
    lines = [json.dumps(r) for r in rows]
    lines[4] = '{"text": "broken'
    (corpus / "data" / "train.jsonl").write_text("\n".join(lines) + "\n")
    code, findings = run(corpus)
    hit = only(findings, "HT101")
    assert code == 1 and hit["file"] == "data/train.jsonl" and hit["line"] == 5


def test_ht102_missing_column(release):
    shard = release.parent / "corpus" / TRAIN
    write_rows(shard, [{"id": r["id"], "body": r["text"]} for r in rows_of(shard)])
    code, findings = run(release.parent / "corpus")
    hit = only(findings, "HT102")
    assert code == 1 and hit["file"] == TRAIN and "text" in hit["message"]


def test_ht103_instruction_not_ending_with_assistant(release):
    shard = release.parent / "instructions" / TRAIN
    rows = rows_of(shard)
    rows[3]["messages"] = rows[3]["messages"][:1]
    write_rows(shard, rows)
    code, findings = run(release.parent / "instructions")
    hit = only(findings, "HT103")
    assert code == 1 and (hit["file"], hit["row"], hit["field"]) == (TRAIN, 3, "messages")
    assert "assistant" in hit["message"]


def test_ht103_invalid_winner(release):
    shard = release.parent / "preferences" / TRAIN
    rows = rows_of(shard)
    rows[2]["winner"] = "both"
    write_rows(shard, rows)
    code, findings = run(release.parent / "preferences")
    hit = only(findings, "HT103")
    assert code == 1 and (hit["row"], hit["field"]) == (2, "winner")


def test_ht104_features_differ_across_shards(release):
    corpus = release.parent / "corpus"
    rows = rows_of(corpus / TRAIN)
    write_rows(corpus / "data" / "train-00000-of-00002.parquet", rows[:40])
    write_rows(corpus / "data" / "train-00001-of-00002.parquet",
               [{**r, "source": 1} for r in rows[40:]])  # source becomes an integer
    (corpus / TRAIN).unlink()
    code, findings = run(corpus)
    assert code == 1 and only(findings, "HT104")["file"] == "data/train-00001-of-00002.parquet"


def test_ht105_empty_text(release):
    shard = release.parent / "corpus" / TRAIN
    rows = rows_of(shard)
    rows[7]["text"] = "   \n"
    write_rows(shard, rows)
    code, findings = run(release.parent / "corpus")
    hit = only(findings, "HT105")
    assert code == 1 and (hit["row"], hit["field"]) == (7, "text")


def test_ht106_duplicates_warn_and_fail_under_strict(release):
    shard = release.parent / "corpus" / TRAIN
    rows = rows_of(shard)
    rows[10]["text"] = rows[2]["text"]
    write_rows(shard, rows)
    code, findings = run(release.parent / "corpus")
    hit = only(findings, "HT106")
    assert code == 0 and hit["severity"] == "warning" and hit["row"] == 10
    assert run(release.parent / "corpus", "--strict")[0] == 1


def test_ht107_test_rows_leak_into_train(release):
    corpus = release.parent / "corpus"
    train, valid = rows_of(corpus / TRAIN), rows_of(corpus / VALID)
    write_rows(corpus / TRAIN, train + [valid[0]])
    code, findings = run(corpus)
    hit = only(findings, "HT107")
    assert code == 1 and (hit["file"], hit["row"]) == (TRAIN, len(train))


def test_ht108_wrong_language(release):
    shard = release.parent / "corpus" / TRAIN
    rows = rows_of(shard)
    for i, text in enumerate(SPANISH):
        rows[i]["text"] = text
    write_rows(shard, rows[: len(SPANISH) + 3])
    code, findings = run(release.parent / "corpus")
    hit = only(findings, "HT108")
    assert code == 1 and hit["file"] == TRAIN and "es:" in hit["message"]


def test_ht109_control_characters_and_invalid_utf8(release):
    corpus = release.parent / "corpus"
    rows = rows_of(corpus / TRAIN)
    rows[5]["text"] = "Kaixo\x07 mundua"
    write_rows(corpus / TRAIN, rows)
    code, findings = run(corpus)
    assert code == 1 and only(findings, "HT109")["row"] == 5
    (corpus / TRAIN).unlink()
    payload = b"".join(json.dumps({"id": str(i), "text": r["text"]}).encode() + b"\n" for i, r in enumerate(rows[6:]))
    payload += b'{"id": "x", "text": "bad \xff byte"}\n'
    with gzip.open(corpus / "data" / "train.jsonl.gz", "wb") as f:
        f.write(payload)
    (corpus / VALID).unlink()
    code, findings = run(corpus)
    hit = only(findings, "HT109")
    assert code == 1 and hit["file"] == "data/train.jsonl.gz" and hit["line"] == len(rows) - 6 + 1


def test_ht110_secret_in_data_and_in_provenance(release):
    shard = release.parent / "instructions" / TRAIN
    rows = rows_of(shard)
    token = "hf_" + "a1B2c3D4e5" * 4
    rows[1]["messages"][1]["content"] = f"Nire tokena {token} da"
    write_rows(shard, rows)
    code, findings = run(release.parent / "instructions")
    hit = only(findings, "HT110")
    assert code == 1 and (hit["row"], hit["field"]) == (1, "messages")
    assert token not in json.dumps(findings)  # the finding does not repeat the secret
    corpus = release.parent / "corpus"
    prov = json.loads((corpus / "hubtool.json").read_text())
    prov["config"]["api_key"] = "sk-proj-" + "x" * 30
    (corpus / "hubtool.json").write_text(json.dumps(prov, indent=2))
    code, findings = run(corpus)
    assert code == 1 and only(findings, "HT110")["file"] == "hubtool.json"


def test_ht111_email_is_a_warning(release):
    shard = release.parent / "corpus" / TRAIN
    rows = rows_of(shard)
    rows[4]["text"] += " Idatzi iker@adibidea.eus helbidera."
    write_rows(shard, rows)
    code, findings = run(release.parent / "corpus")
    assert code == 0 and only(findings, "HT111")["row"] == 4


def test_ht112_configs_inconsistent_with_files(release):
    corpus = release.parent / "corpus"
    (corpus / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*.parquet\n"
        "  - split: test\n    path: data/test-*.parquet\n---\n")
    code, findings = run(corpus)
    messages = [f["message"] for f in findings if f["code"] == "HT112"]
    assert code == 1
    assert any("data/test-*.parquet" in m and "matches no data file" in m for m in messages)
    assert any(f["file"] == VALID for f in findings if f["code"] == "HT112")  # not covered by any config


def test_ht112_mixed_formats(release):
    corpus = release.parent / "corpus"
    rows = rows_of(corpus / VALID)
    (corpus / VALID).unlink()
    (corpus / "data" / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, findings = run(corpus)
    assert code == 1 and any("mix parquet and json" in f["message"] for f in findings if f["code"] == "HT112")


def test_ht113_no_data(release):
    shutil.rmtree(release.parent / "corpus" / "data")
    code, findings = run(release.parent / "corpus")
    assert code == 1 and "HT113" in codes(findings)


# -- models ------------------------------------------------------------------------------------------
def test_ht201_pickle_weights(release):
    (release.parent / "models/base/pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    code, findings = run(release.parent / "models/base")
    assert code == 1 and only(findings, "HT201")["file"] == "pytorch_model.bin"


@pytest.mark.parametrize("artifact, missing", [("models/base", "config.json"),
                                               ("models/exp_2_111", "adapter_config.json")])
def test_ht202_config_missing(release, artifact, missing):
    (release.parent / artifact / missing).unlink()
    code, findings = run(release.parent / artifact)
    assert code == 1 and only(findings, "HT202")["file"] == missing


def test_ht203_tokenizer_missing(release):
    (release.parent / "models/base/tokenizer.json").unlink()
    code, findings = run(release.parent / "models/base")
    assert code == 1 and "HT203" in codes(findings)


def test_ht204_chat_template_missing(release):
    folder = release.parent / "models/exp_2_111"
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    code, findings = run(folder)
    assert code == 1 and only(findings, "HT204")["field"] == "chat_template"


def _edit_adapter_config(folder: Path, **changes) -> None:
    cfg = json.loads((folder / "adapter_config.json").read_text())
    cfg.update(changes)
    (folder / "adapter_config.json").write_text(json.dumps(cfg))


def test_ht205_adapter_base_is_a_local_path(release):
    folder = release.parent / "models/exp_2_111"
    _edit_adapter_config(folder, base_model_name_or_path=str(release.parent / "models/base"))
    code, findings = run(release)
    hit = only(findings, "HT205")
    assert code == 1 and (hit["artifact"], hit["field"]) == ("exp_2_111", "base_model_name_or_path")


def test_ht206_target_module_not_in_base(release):
    _edit_adapter_config(release.parent / "models/exp_2_111", target_modules=["q_proj", "query_key_value"])
    code, findings = run(release)
    hit = only(findings, "HT206")
    assert code == 1 and "query_key_value" in hit["message"] and hit["field"] == "target_modules"


def test_ht207_adapter_shapes_do_not_match_base(release):
    from safetensors.torch import load_file, save_file

    path = release.parent / "models/exp_2_111/adapter_model.safetensors"
    tensors = load_file(path)
    key = next(k for k in tensors if "lora_A" in k)
    tensors[key] = tensors[key][:, :-1].contiguous()
    save_file(tensors, path)
    code, findings = run(release)
    hit = only(findings, "HT207")
    assert code == 1 and hit["field"] == key


def test_ht207_full_model_shapes_do_not_match_config(release):
    cfg_path = release.parent / "models/base/config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["intermediate_size"] += 8
    cfg_path.write_text(json.dumps(cfg))
    code, findings = run(release.parent / "models/base")
    assert code == 1 and "mlp" in only(findings, "HT207")["field"]


def test_ht208_model_does_not_load(release):
    cfg_path = release.parent / "models/base/config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_type"] = "no-such-architecture"
    cfg_path.write_text(json.dumps(cfg))
    code, findings = run(release.parent / "models/base")
    assert code == 1 and only(findings, "HT208")["file"] == "config.json"


def test_ht209_base_unavailable_is_a_warning(release, hub):
    """Alone, an adapter whose base is neither local nor on the hub can only be checked partly."""
    _edit_adapter_config(release.parent / "models/exp_2_111", base_model_name_or_path="hubtool-demo/not-published")
    code, findings = run(release.parent / "models/exp_2_111")
    assert code == 0 and only(findings, "HT209")["severity"] == "warning"
    assert run(release.parent / "models/exp_2_111", "--strict")[0] == 1


# -- space -------------------------------------------------------------------------------------------
def test_ht301_app_missing(release):
    (release.parent / "space/app.py").unlink()
    code, findings = run(release.parent / "space")
    assert code == 1 and only(findings, "HT301")["file"] == "app.py"


def test_ht302_requirements_not_pinned(release):
    (release.parent / "space/requirements.txt").write_text("gradio==6.31.0\n# tools\ntransformers>=4\n")
    code, findings = run(release.parent / "space")
    hit = only(findings, "HT302")
    assert code == 1 and (hit["file"], hit["line"]) == ("requirements.txt", 3)


def test_ht303_readme_metadata(release):
    (release.parent / "space/README.md").write_text("---\ntitle: demo\nsdk: flask\n---\n")
    code, findings = run(release.parent / "space")
    assert code == 1 and only(findings, "HT303")["field"] == "sdk"


# -- release -----------------------------------------------------------------------------------------
def _edit_manifest(release: Path, fn) -> None:
    data = yaml.safe_load(release.read_text())
    fn(data)
    release.write_text(yaml.safe_dump(data, sort_keys=False))


def _line_of(release: Path, needle: str) -> int:
    return next(i for i, line in enumerate(release.read_text().splitlines(), 1) if needle in line)


def test_ht401_manifest_schema_error_has_line(release):
    _edit_manifest(release, lambda d: d["artifacts"][2].update(privat=True, kind="dataset"))
    code, findings = run(release)
    fields = {f["field"]: f["line"] for f in findings if f["code"] == "HT401"}
    assert code == 1
    assert fields["artifacts.2.privat"] == _line_of(release, "privat:")
    assert fields["artifacts.2.kind"] == _line_of(release, "kind: dataset")


def test_ht402_invalid_repo_id(release):
    _edit_manifest(release, lambda d: d["artifacts"][0].update(repo="bad--name"))
    code, findings = run(release)
    hit = only(findings, "HT402")
    assert code == 1 and hit["line"] == _line_of(release, "repo: bad--name")


def test_ht403_two_artifacts_same_repo_and_branch(release):
    _edit_manifest(release, lambda d: d["artifacts"][5].update(branch="exp_2_101"))
    code, findings = run(release)
    assert code == 1 and only(findings, "HT403")["field"] == "artifacts.5.branch"


def test_ht404_licence_missing(release):
    _edit_manifest(release, lambda d: d.pop("license"))
    code, findings = run(release)
    assert code == 1 and only(findings, "HT404")["field"] == "license"


def test_ht405_unknown_licence_and_language(release):
    _edit_manifest(release, lambda d: d.update(license="my-own-licence", languages=["eu", "Basque"]))
    code, findings = run(release)
    fields = {f["field"] for f in findings if f["code"] == "HT405"}
    assert code == 1 and fields == {"license", "languages.1"}


def test_ht003_artifact_path_missing(release):
    shutil.rmtree(release.parent / "preferences")
    code, findings = run(release)
    assert code == 1 and only(findings, "HT003")["field"] == "artifacts.2.path"
