"""The training recipe's GPU and cluster path, exercised on CPU: the official Llama-3.1 template, packing that
keeps samples whole and isolated, the config refusing silent options, every shipped GPU config building its
training objects, FSDP2 across two CPU processes, and checkpoints pushed to a Hub branch and resumed."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, TrainerCallback

from recipes.train.config import TrainConfigError, Variant, expand_variants, load_train_config
from recipes.train.data import encode_chat
from recipes.train.run import build_args, prepare, train_variant

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "recipes" / "configs"
TINY = CONFIGS / "train" / "tiny.yaml"
TEMPLATE = CONFIGS / "train" / "llama31_chat_template.jinja"
# sha256 of the chat_template of meta-llama/Llama-3.1-8B-Instruct's tokenizer_config.json, as copied in
# openvinotoolkit/openvino.genai (tests/python_tests/data/tokenizer_configs.py) and as `chat_template_jinja`
# in the study's own axolotl configs (hitz-zentroa/latxa-instruct, model_training/train_configs/*.yaml).
OFFICIAL_LLAMA31_TEMPLATE_SHA256 = "e10ca381b1ccc5cf9db52e371f3b6651576caee0a630b452e2816b2d404d4b65"


def tiny_cfg(**training):
    cfg = load_train_config(TINY)
    cfg.training.update(training)
    return cfg


# --- the official Llama-3.1 chat template ---------------------------------------------------------------

def test_the_bundled_llama31_template_is_the_official_one():
    assert hashlib.sha256(TEMPLATE.read_bytes()).hexdigest() == OFFICIAL_LLAMA31_TEMPLATE_SHA256


def test_llama31_template_renders_a_conversation_byte_identical_to_the_official_format(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = TEMPLATE.read_text(encoding="utf-8")
    conversation = [{"role": "system", "content": "Euskaraz erantzun beti.\n"},
                    {"role": "user", "content": "  Zein da Arabako hiriburua?"},
                    {"role": "assistant", "content": "Gasteiz da."},
                    {"role": "user", "content": "Eta Bizkaikoa?"}]
    # Meta's Llama 3.1 prompt format, written out by hand: the system header always carries the knowledge
    # cut-off and the template's fixed date; every message is trimmed and closed by <|eot_id|>.
    expected = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                "Euskaraz erantzun beti.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nZein da Arabako hiriburua?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\nGasteiz da.<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\nEta Bizkaikoa?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True) == expected
    no_system = tok.apply_chat_template(conversation[1:3], tokenize=False)
    assert no_system == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                         "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                         "<|start_header_id|>user<|end_header_id|>\n\nZein da Arabako hiriburua?<|eot_id|>"
                         "<|start_header_id|>assistant<|end_header_id|>\n\nGasteiz da.<|eot_id|>")
    enc = encode_chat(tok, conversation[:3])  # prefix-stable: the assistant turn is found on token ids
    assert tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]) == "Gasteiz da.<|eot_id|>"


# --- the config refuses what would silently do nothing ----------------------------------------------------

def _load_with(tmp_path, changes: dict, drop: tuple = ()):
    data = yaml.safe_load(TINY.read_text())
    for key in drop:
        data.pop(key)
    for key, value in changes.items():
        if key == "training":
            data["training"].update(value)
        else:
            data[key] = value
    for src in data["data"].values():
        src["path"] = str((TINY.parent / src["path"]).resolve())
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_train_config(path)


@pytest.mark.parametrize("changes, drop, message", [
    ({"mode": "full"}, (), "`lora` only applies to mode lora"),
    ({"mode": "full", "merge": True}, ("lora",), "merge: true only applies to mode lora"),
    ({"mode": "full", "qlora": True}, ("lora",), "qlora: true only applies to mode lora"),
    ({"training": {"output_dir": "x"}}, (), "training.output_dir is set by the recipe"),
    ({"training": {"hub_model_id": "a/b"}}, (), "use `hub_checkpoints.repo`"),
    ({"training": {"assistant_only_loss": True}}, (), "masks non-assistant tokens itself"),
    ({"training": {"padding_free": False}}, (), "padding_free: false has no effect with packing_strategy bfd"),
    ({"training": {"packing": False, "packing_strategy": "bfd"}}, (), "no effect without training.packing"),
    ({"training": {"packing": False, "padding_free": True}}, (), "max_length is not enforced"),
    ({"training": {"eval_strategy": "steps"}}, (), "no evaluation set"),
    ({"effective_batch_size": 8, "training": {"gradient_accumulation_steps": 2}}, (), "not both"),
    ({"training": {"liger_kernel_config": {"rope": True}}}, (), "without training.use_liger_kernel"),
    ({"training": {"use_liger_kernel": True, "liger_kernel_config": {"fused_linear_cross_entropy": True}}}, (),
     "TRL computes the loss with its own fused LM head"),
    ({"hub_checkpoints": {"repo": "a/b"}, "training": {"save_strategy": "no"}}, (), "would push nothing"),
])
def test_config_refuses_options_that_would_do_nothing(tmp_path, changes, drop, message):
    with pytest.raises(TrainConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load_with(tmp_path, changes, drop)


def test_unknown_trainer_options_and_impossible_batches_are_config_errors(tmp_path):
    with pytest.raises(TrainConfigError, match="training: .*learnig_rate"):
        build_args(_load_with(tmp_path, {"training": {"learnig_rate": 1e-4}}), "exp_2_111", tmp_path / "c")
    with pytest.raises(TrainConfigError, match="not a multiple of per_device_train_batch_size"):
        build_args(_load_with(tmp_path, {"effective_batch_size": 6}), "exp_2_111", tmp_path / "c")  # 4 per device
    args = build_args(_load_with(tmp_path, {"effective_batch_size": 12, "training": {"per_device_train_batch_size": 3}}),
                      "exp_2_111", tmp_path / "c")
    assert args.gradient_accumulation_steps == 4 and args.world_size == 1


# --- every shipped GPU config builds its training objects on CPU ----------------------------------------

STUDY = {"num_train_epochs": 4, "learning_rate": 1e-5, "lr_scheduler_type": "cosine_with_min_lr",
         "lr_scheduler_kwargs": {"min_lr_rate": 0.33}, "warmup_steps": 0.1, "adam_beta1": 0.9, "adam_beta2": 0.95,
         "adam_epsilon": 1e-8, "weight_decay": 0.1, "max_length": 8192, "packing": True, "packing_strategy": "bfd",
         "neftune_noise_alpha": 5, "seed": 33, "bf16": True, "gradient_checkpointing": True,
         "per_device_train_batch_size": 2, "use_liger_kernel": True, "optim": "adamw_torch_fused"}


def _launch_env(config_file: Path) -> dict[str, str]:
    """The environment `accelerate launch --config_file CONFIG` gives the training processes."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args, defaults, _ = _validate_launch_command(
        launch_command_parser().parse_args(["--config_file", str(config_file), "-m", "recipes.train"]))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        return prepare_deepspeed_cmd_env(args)[1]
    return prepare_multi_gpu_env(args)


@pytest.mark.parametrize("name, variants, effective", [
    ("latxa-8b-instruct-full-grid.yaml", ["exp_2_100", "exp_2_101", "exp_2_110", "exp_2_111"], 256),
    ("latxa-70b-instruct-full.yaml", ["exp_2_101"], 512),
])
def test_study_configs_build_their_trainer_config_with_the_published_settings(tmp_path, monkeypatch, name, variants,
                                                                               effective):
    cfg = load_train_config(CONFIGS / "train" / name)
    assert [v.name for v in expand_variants(cfg)] == variants and cfg.effective_batch_size == effective
    assert hashlib.sha256(Path(cfg.resolve(cfg.chat_template)).read_bytes()).hexdigest() == \
        OFFICIAL_LLAMA31_TEMPLATE_SHA256
    env = _launch_env(CONFIGS / "accelerate" / "fsdp.yaml")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = build_args(cfg, variants[-1], tmp_path / "ckpt")  # one CPU process stands for the cluster
    for key, value in STUDY.items():
        got = getattr(args, key)
        assert (got.value if hasattr(got, "value") else got) == value, key
    assert args.gradient_accumulation_steps == effective // 2  # world size 1 here: 256 / (2 x 1)
    assert args.model_init_kwargs == {"attn_implementation": "flash_attention_2", "dtype": "bfloat16"}
    assert args.report_to == ["tensorboard"] and args.mixed_precision == "bf16"


def test_lora_config_builds_its_trainer_and_peft_configs(tmp_path):
    from peft import LoraConfig

    cfg = load_train_config(CONFIGS / "train" / "llama-8b-instruct-lora-grid.yaml")
    assert cfg.mode == "lora" and len(expand_variants(cfg)) == 4 and cfg.merge
    peft = LoraConfig(task_type="CAUSAL_LM", **cfg.lora)
    assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (64, 128, 0.05) and "down_proj" in peft.target_modules
    args = build_args(cfg, "exp_2_111", tmp_path / "ckpt")
    assert args.gradient_accumulation_steps == 16 and args.model_init_kwargs["attn_implementation"] == "sdpa"


def test_accelerate_configs_load_through_accelerate(monkeypatch):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin

    fsdp_file, ds_file = CONFIGS / "accelerate" / "fsdp.yaml", CONFIGS / "accelerate" / "deepspeed_zero3.yaml"
    assert load_config_from_file(str(fsdp_file)).distributed_type == "FSDP"
    assert load_config_from_file(str(ds_file)).distributed_type == "DEEPSPEED"
    with monkeypatch.context() as m:
        for key, value in _launch_env(fsdp_file).items():
            m.setenv(key, value)
        fsdp = FullyShardedDataParallelPlugin()
    assert fsdp.fsdp_version == 2 and fsdp.cpu_ram_efficient_loading and fsdp.reshard_after_forward is True
    assert fsdp.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
    assert "SHARDED_STATE_DICT" in str(fsdp.state_dict_type)
    with monkeypatch.context() as m:
        for key, value in _launch_env(ds_file).items():
            m.setenv(key, value)
        ds = DeepSpeedPlugin()
    zero = ds.deepspeed_config["zero_optimization"]
    assert ds.zero_stage == 3 and ds.zero3_init_flag and zero["stage3_gather_16bit_weights_on_model_save"] is True
    # the accumulation is left to the training config (effective_batch_size), never fixed here
    assert ds.deepspeed_config["gradient_accumulation_steps"] == "auto"


# --- packing: whole samples, isolated -------------------------------------------------------------------

@pytest.mark.slow
def test_packing_keeps_samples_whole_and_isolates_them(tmp_path):
    cfg = tiny_cfg(max_length=256, per_device_train_batch_size=2)
    cfg.data["instructions_target"].limit = 12
    p = prepare(cfg, Variant("exp_2_010", {"corpus": 0, "instructions_target": 1, "instructions_en": 0}), tmp_path)
    samples = sorted(tuple(e["input_ids"]) for e in p.mixture.examples)
    assert all(len(s) < 256 for s in samples)  # none needs cutting, so every one must come out whole
    segments = []
    for row in p.trainer.train_dataset:
        assert sum(row["seq_lengths"]) == len(row["input_ids"]) <= 256
        start = 0
        for length in row["seq_lengths"]:
            segments.append(tuple(row["input_ids"][start:start + length]))
            start += length
    assert sorted(segments) == samples  # each packed segment is exactly one whole sample
    assert any(len(row["seq_lengths"]) > 1 for row in p.trainer.train_dataset)  # and rows do hold several

    rows = [p.trainer.train_dataset[i] for i in range(2)]
    batch = p.trainer.data_collator(rows)  # what the Trainer's dataloader does with a batch of two packed rows
    lengths = [n for row in rows for n in row["seq_lengths"]]
    expected_positions = [i for n in lengths for i in range(n)]
    assert batch["position_ids"][0].tolist() == expected_positions  # restart at 0 for every sample
    assert "attention_mask" not in batch
    model = p.trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        start = 0
        for n in lengths:  # each sample alone gives the same logits: no attention across samples
            alone = model(input_ids=batch["input_ids"][:, start:start + n]).logits[0]
            assert torch.allclose(packed[start:start + n], alone, atol=1e-5)
            start += n
    first_tokens = [sum(lengths[:i]) for i in range(len(lengths))]
    assert all(batch["labels"][0, i] == -100 for i in first_tokens)  # no sample predicts its neighbour's start


# --- FSDP2 across two CPU processes ------------------------------------------------------------------

FSDP_CPU = {"compute_environment": "LOCAL_MACHINE", "distributed_type": "FSDP", "mixed_precision": "no",
            "num_machines": 1, "num_processes": 2, "machine_rank": 0}


@pytest.mark.slow
def test_fsdp_full_fine_tuning_on_two_processes_saves_the_trained_weights(tmp_path):
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from hub_tools.publish.cards import CardContext, render_card
    from hub_tools.validate import validate_artifact

    accelerate_cfg = yaml.safe_load((CONFIGS / "accelerate" / "fsdp.yaml").read_text())
    accelerate_cfg.update(FSDP_CPU)  # the shipped FSDP settings, on 2 CPU processes in fp32
    with socket.socket() as s:  # not the default 29500: other jobs on the machine may be using it
        s.bind(("127.0.0.1", 0))
        accelerate_cfg["main_process_port"] = s.getsockname()[1]
    (tmp_path / "fsdp.yaml").write_text(yaml.safe_dump(accelerate_cfg))
    data = yaml.safe_load(TINY.read_text())
    for src in data["data"].values():
        src["path"] = str((TINY.parent / src["path"]).resolve())
    data.pop("lora")
    data.update(mode="full", output_dir=str(tmp_path / "out"), max_shard_size="100KB", effective_batch_size=8)
    data["training"].update(max_steps=4, save_steps=4, accelerator_config={"use_configured_state": True})
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(tmp_path / "fsdp.yaml"),
                          "-m", "recipes.train.cpu_fsdp", "--config", str(tmp_path / "train.yaml"),
                          "--variant", "exp_2_111"], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    out = tmp_path / "out" / "exp_2_111"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1  # sharded safetensors, written once
    assert validate_artifact(out).ok(strict=True)

    # Independent of the final gather: the Trainer's own sharded (DCP) checkpoint of step 4, merged offline
    ckpt = tmp_path / "out" / "exp_2_111.checkpoints" / "checkpoint-4" / "pytorch_model_fsdp_0"
    assert ckpt.is_dir()  # FSDP really sharded the model: a DDP run writes model.safetensors here
    dcp_to_torch_save(ckpt, tmp_path / "sharded.pt")
    trained = torch.load(tmp_path / "sharded.pt", weights_only=False)["model"]
    saved = AutoModelForCausalLM.from_pretrained(out).state_dict()
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "tiny-base").state_dict()
    assert set(trained) <= set(saved)
    assert all(torch.equal(saved[k], trained[k]) for k in trained)
    assert all(not torch.equal(saved[k], base[k]) for k in trained if k in base)

    prov = json.loads((out / "hubtool.json").read_text())
    training = prov["statistics"]["training"]
    assert training["world_size"] == 2 and training["effective_batch_size"] == 8
    assert training["gradient_accumulation_steps"] == 1  # 8 = 4 per device x 1 x 2 processes
    assert training["loading"]["fsdp_cpu_ram_efficient_loading"] is True  # the model loaded after the FSDP setup
    card = render_card(out, CardContext(name="exp_2_111", kind="model", repo_id="hitz/tiny-full", license="apache-2.0",
                                        languages=["eu"], revision="exp_2_111"))
    assert "| processes (world size) | 2 |" in card
    assert "| effective batch | 8 sequences = 4 per device × 1 accumulation steps × 2 processes |" in card
    assert "| instructions_en | 18 | 0.5 | 9 |" in card and "![training loss](loss.png)" in card


# --- checkpoints on a Hub branch; resume from it; report_to -------------------------------------------

class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


@pytest.mark.slow
def test_checkpoints_go_to_a_hub_branch_and_a_new_machine_resumes_from_it(api, repo_name, tmp_path):
    import shutil

    from recipes.train.config import HubCheckpoints

    cfg = tiny_cfg(report_to=["tensorboard"])
    repo = f"hitz/{repo_name}-checkpoints"
    cfg.hub_checkpoints = HubCheckpoints(repo=repo, private=True)
    v = next(v for v in expand_variants(cfg) if v.name == "exp_2_111")
    first = train_variant(cfg, v, tmp_path / "machine-a", callbacks=[StopAt(6)])
    assert first.global_step == 6
    assert api.repo_info(repo).private
    state = json.loads(Path(api.hf_hub_download(repo, "last-checkpoint/trainer_state.json", revision="exp_2_111",
                                                cache_dir=str(tmp_path / "c"))).read_text())
    assert state["global_step"] == 6
    assert "last-checkpoint/trainer_state.json" not in api.list_repo_files(repo)  # only on the variant's branch

    logged = logged_losses(tmp_path / "machine-a")
    shutil.rmtree(tmp_path / "machine-a")  # another machine: nothing local
    executed = StepCounter()
    resumed = train_variant(cfg, v, tmp_path / "machine-b", resume=True, callbacks=[executed])
    assert resumed.resumed_from.endswith("checkpoint-6") and resumed.global_step == 12
    assert executed.steps == list(range(7, 13))
    assert [s for s, _ in resumed.losses] == list(range(1, 13)) and resumed.losses[:6] == first.losses
    assert logged == set(range(1, 7)) and logged_losses(tmp_path / "machine-b") == set(range(7, 13))  # report_to


def logged_losses(folder: Path) -> set[int]:
    """The steps of the training losses TensorBoard event files under ``folder`` hold."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = set()
    for path in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(path))
        acc.Reload()
        if "train/loss" in acc.Tags()["scalars"]:
            steps |= {e.step for e in acc.Scalars("train/loss")}
    return steps
