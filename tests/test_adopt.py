"""Artifacts from elsewhere: `hubtool validate` infers the kind of a folder without hubtool.json and runs every
check; `hubtool adopt` writes the provenance; local paths never reach hubtool.json or a card."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import cli

from hub_tools.artifacts.infer import infer_kind


@pytest.fixture()
def foreign_adapter(tiny_model_dir, tmp_path):
    """A LoRA adapter as another tool leaves it: no hubtool.json, its base named by a path on the trainer's disk."""
    from hub_tools.samples.tiny_models import save_tiny_adapter

    folder = save_tiny_adapter(tiny_model_dir, tmp_path / "axolotl-out", base_repo_id="~/models/x")
    (folder / "README.md").write_text("---\nbase_model: /home/ane/models/x\nlibrary_name: peft\n---\n")  # as peft writes
    assert not (folder / "hubtool.json").exists()
    return folder


def test_a_foreign_adapter_is_checked_fully_then_adopted(foreign_adapter):
    code, out = cli("validate", foreign_adapter, "--json")
    codes = {f["code"] for f in out["findings"] if f["severity"] == "error"}
    assert code == 1 and codes == {"HT001", "HT205"}, out  # missing provenance AND the local base path
    ht001 = next(f for f in out["findings"] if f["code"] == "HT001")
    assert "checked as 'adapter' (from adapter_config.json)" in ht001["message"]
    assert "'~/models/x'" in next(f for f in out["findings"] if f["code"] == "HT205")["message"]

    code, adopted = cli("adopt", foreign_adapter, "--kind", "adapter", "--tool", "axolotl", "--language", "eu", "--json")
    assert code == 0 and adopted["kind"] == "adapter"
    assert set(adopted["files"]) == {"adapter_model.safetensors"}  # the weights' fingerprint
    record = json.loads((foreign_adapter / "hubtool.json").read_text())
    assert record["kind"] == "adapter" and record["recipe"] == {"name": "adopted:axolotl", "version": "unknown"}
    assert record["config"]["metadata"]["r"] == 4 and "base_model_name_or_path" not in record["config"]["metadata"]
    assert "~/models/x" not in (foreign_adapter / "hubtool.json").read_text()  # the local path is not recorded
    code, out = cli("validate", foreign_adapter, "--json")
    assert code == 1 and {f["code"] for f in out["findings"] if f["severity"] == "error"} == {"HT205"}

    cfg = json.loads((foreign_adapter / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "hitz/tiny-base"
    (foreign_adapter / "adapter_config.json").write_text(json.dumps(cfg))
    code, out = cli("validate", foreign_adapter, "--json")
    assert code == 0 and out["ok"], out
    # peft's own README.md still names the local base: a warning (a hubtool release replaces it with a card)
    assert any(f["code"] == "HT005" and f["severity"] == "warning" for f in out["findings"])


def test_adopt_can_set_the_base_id_and_refuses_a_second_adoption(foreign_adapter):
    code, out = cli("adopt", foreign_adapter, "--base-model", "not a repo id")
    assert code == 2 and "not a Hub repo id" in out
    code, out = cli("adopt", foreign_adapter, "--base-model", "hitz/tiny-base", "--json")
    assert code == 0 and any("base_model_name_or_path set to hitz/tiny-base" in n for n in out["notes"])
    assert json.loads((foreign_adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == "hitz/tiny-base"
    assert json.loads((foreign_adapter / "hubtool.json").read_text())["card"]["base_model"] == "hitz/tiny-base"
    code, out = cli("adopt", foreign_adapter)
    assert code == 1 and "already has hubtool.json" in out and "--force" in out


@pytest.mark.parametrize("columns,kind", [({"messages": [[{"role": "user", "content": "x"}]]}, "instructions"),
                                         ({"model_a": ["a"], "model_b": ["b"], "winner": ["tie"]}, "preferences"),
                                         ({"text": ["Kaixo mundua."]}, "corpus")])
def test_the_kind_of_a_dataset_folder_comes_from_its_columns(tmp_path, columns, kind):
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table(columns), tmp_path / "data" / "train-00000-of-00001.parquet")
    assert infer_kind(tmp_path)[0] == kind


def test_a_model_and_a_space_are_recognised(tiny_model_dir, tmp_path):
    assert infer_kind(tiny_model_dir)[0] == "model"
    (tmp_path / "README.md").write_text("---\ntitle: x\nsdk: gradio\n---\n")
    assert infer_kind(tmp_path)[0] == "space"
    (tmp_path / "README.md").unlink()
    (tmp_path / "app.py").write_text("import gradio\n")
    assert infer_kind(tmp_path)[0] == "space"


def test_a_dataset_without_provenance_gets_every_check(tmp_path):
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"text": ["Kaixo mundua, zer moduz zaude gaur?", ""]}),
                   tmp_path / "data" / "train-00000-of-00001.parquet")
    code, out = cli("validate", tmp_path, "--json")
    assert code == 1 and {"HT001", "HT105"} <= {f["code"] for f in out["findings"]}


def test_local_paths_and_the_user_name_in_hubtool_json_are_errors(tmp_path):
    from hub_tools.text.localpaths import find_local_paths

    assert [p.text for p in find_local_paths('{"ref": "/home/ane/corpus/x.parquet", "url": "https://a.b/c/d"}')] == \
        ["/home/ane/corpus/x.parquet"]
    assert find_local_paths("[base](/hitz/base) and org/name and hf://datasets/a/b") == []
    assert [p.what for p in find_local_paths("built by ane on her laptop", user="ane")] == ["user name"]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"text": ["Kaixo mundua, zer moduz zaude gaur?"]}),
                   tmp_path / "data" / "train-00000-of-00001.parquet")
    code, _ = cli("adopt", tmp_path, "--kind", "corpus", "--language", "eu")
    record = json.loads((tmp_path / "hubtool.json").read_text())
    record["config"]["source"] = "/home/ane/raw/wiki.jsonl"
    (tmp_path / "hubtool.json").write_text(json.dumps(record, indent=2))
    code, out = cli("validate", tmp_path, "--json")
    hit = next(f for f in out["findings"] if f["code"] == "HT004")
    assert code == 1 and "/home/ane/raw/wiki.jsonl" in hit["message"] and hit["file"] == "hubtool.json"
