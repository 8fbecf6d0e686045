"""The local hub read by the community's libraries: datasets, transformers and peft."""
from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from huggingface_hub import HfApi

CONFIG_A = {"train": [{"text": f"a-train-{i}", "n": i} for i in range(7)],
            "test": [{"text": f"a-test-{i}", "n": i} for i in range(3)]}
CONFIG_B = {"train": [{"instruction": f"b-train-{i}", "score": i / 2} for i in range(5)],
            "test": [{"instruction": f"b-test-{i}", "score": -i / 2} for i in range(4)]}

def _readme(ext: str) -> str:
    return f"""---
configs:
- config_name: config_a
  default: true
  data_files:
  - split: train
    path: config_a/train-*.{ext}
  - split: test
    path: config_a/test-*.{ext}
- config_name: config_b
  data_files:
  - split: train
    path: config_b/train-*.{ext}
  - split: test
    path: config_b/test-*.{ext}
---
# Two configs
"""


def _write_rows(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _write_two_config_dataset(folder, ext: str = "parquet"):
    """Both configs in one format: datasets picks one builder (parquet or json) per repo."""
    for config, splits in (("config_a", CONFIG_A), ("config_b", CONFIG_B)):
        for split, rows in splits.items():
            _write_rows(folder / config / f"{split}-00000-of-00001.{ext}", rows)
    (folder / "README.md").write_text(_readme(ext))


def test_load_dataset_configs_splits_tags_and_branches(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    folder = tmp_path / "ds"
    _write_two_config_dataset(folder)
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder, commit_message="v1")
    api.create_tag(repo, tag="v1.0", repo_type="dataset")
    # main moves on; the tag keeps the release
    _write_rows(folder / "config_b" / "train-00000-of-00001.parquet", [{"instruction": "changed", "score": 0.0}])
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder, commit_message="v2")
    api.create_branch(repo, branch="exp", repo_type="dataset", revision="v1.0")

    cache = tmp_path / "cache"
    released = datasets.load_dataset(repo, "config_b", revision="v1.0", cache_dir=str(cache))
    assert released["train"].to_list() == CONFIG_B["train"]
    assert released["test"].to_list() == CONFIG_B["test"]
    on_main = datasets.load_dataset(repo, "config_b", split="train", cache_dir=str(cache))
    assert on_main.to_list() == [{"instruction": "changed", "score": 0.0}]
    on_branch = datasets.load_dataset(repo, "config_b", split="train", revision="exp", cache_dir=str(cache))
    assert on_branch.to_list() == CONFIG_B["train"]
    default = datasets.load_dataset(repo, cache_dir=str(cache))  # default config
    assert default["train"].to_list() == CONFIG_A["train"] and default["test"].to_list() == CONFIG_A["test"]
    assert datasets.get_dataset_config_names(repo) == ["config_a", "config_b"]


def test_load_dataset_jsonl_and_streaming(api: HfApi, repo_name, tmp_path):
    repo = f"hitz/{repo_name}"
    api.create_repo(repo, repo_type="dataset")
    folder = tmp_path / "ds"
    _write_two_config_dataset(folder, "jsonl")
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder)
    api.create_tag(repo, tag="v1.0", repo_type="dataset")
    assert datasets.load_dataset(repo, "config_b", split="train", cache_dir=str(tmp_path / "c")).to_list() == \
        CONFIG_B["train"]
    streamed = datasets.load_dataset(repo, "config_a", split="train", streaming=True, revision="v1.0")
    assert list(streamed) == CONFIG_A["train"]
    streamed_b = datasets.load_dataset(repo, "config_b", split="test", streaming=True)
    assert list(streamed_b) == CONFIG_B["test"]


def test_dataset_push_to_hub_round_trip(api: HfApi, repo_name, tmp_path):
    """`Dataset.push_to_hub` deletes each temp shard after preupload: it relies on LFS answers."""
    repo = f"hitz/{repo_name}"
    rows = [{"text": f"testu {i}", "id": i} for i in range(50)]
    datasets.Dataset.from_list(rows).push_to_hub(repo, split="train")
    loaded = datasets.load_dataset(repo, split="train", cache_dir=str(tmp_path / "c"))
    assert loaded.to_list() == rows


@pytest.mark.slow
def test_tiny_llama_and_lora_adapter_on_a_branch(api: HfApi, repo_name, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hub_tools.samples.tiny_models import save_tiny_adapter

    base_repo = f"hitz/{repo_name}-base"
    adapter_repo = f"hitz/{repo_name}-instruct"
    api.create_repo(base_repo)
    api.upload_folder(repo_id=base_repo, folder_path=tiny_model_dir)
    adapter_dir = save_tiny_adapter(tiny_model_dir, tmp_path / "adapter", base_repo_id=base_repo)
    api.create_repo(adapter_repo)
    api.create_branch(adapter_repo, branch="exp_2_111")
    api.upload_folder(repo_id=adapter_repo, folder_path=adapter_dir, revision="exp_2_111")
    assert "adapter_model.safetensors" not in api.list_repo_files(adapter_repo)  # main untouched

    cache = str(tmp_path / "cache")
    tokenizer = AutoTokenizer.from_pretrained(base_repo, cache_dir=cache)
    base = AutoModelForCausalLM.from_pretrained(base_repo, cache_dir=cache)
    local = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    for (name, a), (_, b) in zip(base.state_dict().items(), local.state_dict().items()):
        assert torch.equal(a, b), name
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Kaixo!"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    base_out = base.generate(**prompt, max_new_tokens=5, do_sample=False)

    adapted = PeftModel.from_pretrained(base, adapter_repo, revision="exp_2_111", cache_dir=cache)
    assert adapted.peft_config["default"].base_model_name_or_path == base_repo
    out = adapted.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == prompt["input_ids"].shape[1] + 5
    # The adapter has non-zero LoRA weights: it must change the logits of the base model.
    with adapted.disable_adapter(), torch.no_grad():
        plain = adapted(**prompt).logits
    with torch.no_grad():
        tuned = adapted(**prompt).logits
    assert not torch.allclose(plain, tuned)
    assert base_out.shape == out.shape
