"""`hubtool card`: cards parse back with huggingface_hub's classes and their figures equal the data's."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData, SpaceCard
from safetensors import safe_open

from hub_tools.publish.cards import size_category
from hub_tools.cli import main


def _card(release, *args):
    result = CliRunner().invoke(main, ["card", str(release), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _yaml_block(text: str) -> dict:
    return yaml.safe_load(text.split("---", 2)[1])


def test_dataset_card_round_trips_and_matches_the_data(release):
    written = _card(release)
    corpus = release.parent / "corpus"
    assert written["corpus"] == str(corpus / "README.md")
    card = DatasetCard.load(corpus / "README.md")
    meta = card.data.to_dict()
    # metadata round trip: the parsed card data renders back to the same YAML
    assert _yaml_block(str(card)) == meta
    assert DatasetCardData(**meta).to_dict() == meta
    assert meta["language"] == ["eu"] and meta["license"] == "cc0-1.0"  # artifact card field over release licence

    truth = {split: pq.read_table(corpus / "data" / f"{split}-00000-of-00001.parquet").to_pylist()
             for split in ("train", "validation")}
    splits = {s["name"]: s["num_examples"] for s in meta["dataset_info"][0]["splits"]}
    assert splits == {split: len(rows) for split, rows in truth.items()}
    assert meta["size_categories"] == [size_category(sum(map(len, truth.values())))]
    assert [f["name"] for f in meta["dataset_info"][0]["features"]] == ["id", "text", "source"]
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*.parquet"},
        {"split": "validation", "path": "data/validation-*.parquet"}]}]
    words = {split: sum(len(r["text"].split()) for r in rows) for split, rows in truth.items()}
    body = card.text
    assert f"| words | {sum(words.values()):,} |" in body
    assert f"| default | train | {len(truth['train']):,} | {words['train']:,} |" in body
    assert f"| rows | {sum(map(len, truth.values())):,} |" in body
    assert 'load_dataset("hubtool-samples/basque-sample-corpus", revision="v1.0")' in body
    assert "| hubtool-samples | 100 |" in body


def test_instruction_card_states_lineage(release):
    _card(release)
    card = DatasetCard.load(release.parent / "instructions" / "README.md")
    assert card.data.source_datasets == ["hubtool-samples/basque-sample-corpus"]
    assert "## Lineage" in card.text and "(/datasets/hubtool-samples/basque-sample-corpus)" in card.text
    assert "1. **subset**: train split of the sample corpus" in card.text
    assert {"instruction-tuning", "synthetic"} <= set(card.data.tags)


def test_adapter_card_round_trips_with_model_index(release):
    _card(release)
    folder = release.parent / "models" / "exp_2_111"
    card = ModelCard.load(folder / "README.md")
    meta = card.data.to_dict()
    assert _yaml_block(str(card)) == meta
    assert ModelCardData(**meta).to_dict() == meta
    adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
    assert meta["base_model"] == adapter_cfg["base_model_name_or_path"] == "hubtool-samples/tiny-llama-eu"
    assert meta["base_model_relation"] == "adapter" and meta["library_name"] == "peft"
    expected = json.loads((release.parent / "results" / "exp_2_111.json").read_text())["results"]
    got = {(r.task_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert got == {(r["task"]["type"], m["type"]): m["value"] for r in expected for m in r["metrics"]}
    with safe_open(folder / "adapter_model.safetensors", framework="pt") as st:
        n_params = sum(st.get_tensor(k).numel() for k in st.keys())
    assert f"| parameters (adapter) | {n_params:,} |" in card.text
    assert f"| LoRA rank / alpha | {adapter_cfg['r']} / {adapter_cfg['lora_alpha']} |" in card.text
    assert 'PeftModel.from_pretrained(base, "hubtool-samples/tiny-llama-eu-instruct", revision="exp_2_111")' in card.text


def test_space_card_metadata(release):
    _card(release)
    card = SpaceCard.load(release.parent / "space" / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert card.data.title == "Basque LLM demo (hubtool sample)"  # from the Space settings (space/space.yaml)
    assert card.data.models == ["hubtool-samples/tiny-llama-eu", "hubtool-samples/tiny-llama-eu-instruct"]
    # the rendered Space passes its own validation now that it has a README
    result = CliRunner().invoke(main, ["validate", str(release.parent / "space")])
    assert result.exit_code == 0, result.output


def test_template_override_and_out_dir(release, tmp_path):
    template = release.parent / "my_card.md.j2"
    template.write_text("---\n{{ card_data }}\n---\n# {{ title }}\nOur own words. Rows: {{ stats.rows_total }}.\n")
    data = yaml.safe_load(release.read_text())
    data["artifacts"][0]["template"] = "my_card.md.j2"
    release.write_text(yaml.safe_dump(data, sort_keys=False))
    written = _card(release, "--out", str(tmp_path / "cards"))
    assert written["corpus"] == str(tmp_path / "cards" / "corpus" / "README.md")
    assert not (release.parent / "corpus" / "README.md").exists()  # --out leaves the artifacts alone
    card = DatasetCard.load(tmp_path / "cards" / "corpus" / "README.md")
    assert "Our own words. Rows: 100." in card.text and card.data.license == "cc0-1.0"


def test_card_refuses_an_artifact_without_provenance(release):
    (release.parent / "corpus" / "hubtool.json").unlink()
    result = CliRunner().invoke(main, ["card", str(release.parent / "corpus")])
    assert result.exit_code == 1 and "hubtool.json" in result.output and "hubtool validate" in result.output
