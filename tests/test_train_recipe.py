"""The training recipe on the tiny Llama: two variants, masking, resume, merge, reload from the hub."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from recipes.train.config import expand_variants, load_train_config
from recipes.train.data import encode_chat
from recipes.train.run import prepare, train_variant

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "recipes" / "configs" / "train" / "tiny.yaml"
pytestmark = pytest.mark.slow


@pytest.fixture()
def cfg(repo_name):
    c = load_train_config(TINY)
    c.base_model_id = f"hitz/{repo_name}-base"  # unique per test: the session hub is shared
    return c


def variant(cfg, name):
    return next(v for v in expand_variants(cfg) if v.name == name)


def test_grid_expands_to_named_variants(cfg):
    assert [v.name for v in expand_variants(cfg)] == ["exp_2_100", "exp_2_101", "exp_2_110", "exp_2_111"]
    assert variant(cfg, "exp_2_101").use == {"corpus": 1, "instructions_target": 0, "instructions_en": 1}


def test_two_variants_train_reload_and_generate_from_folder_and_hub(cfg, api, tmp_path):
    from peft import PeftModel

    from hub_tools.publish.push import push
    from hub_tools.validate import validate_artifact

    results = {name: train_variant(cfg, variant(cfg, name), tmp_path) for name in ("exp_2_101", "exp_2_111")}
    base_dir = tmp_path / "tiny-base"
    api.create_repo(cfg.base_model_id)
    api.upload_folder(repo_id=cfg.base_model_id, folder_path=base_dir)
    adapter_repo = f"{cfg.base_model_id}-instruct"
    for name, r in results.items():
        assert all(math.isfinite(loss) for _, loss in r.losses) and r.global_step == cfg.training["max_steps"]
        cfg_json = json.loads((r.output / "adapter_config.json").read_text())
        assert cfg_json["base_model_name_or_path"] == cfg.base_model_id  # the Hub id, not tmp_path
        report = validate_artifact(r.output, base_model_path=base_dir)
        assert report.ok(strict=True), [f.to_dict() for f in report.findings]
        metrics = json.loads((r.output / "training_metrics.json").read_text())
        assert [m["loss"] for m in metrics if "loss" in m] == [loss for _, loss in r.losses]
        assert (r.output / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        prov = json.loads((r.output / "hubtool.json").read_text())
        assert prov["kind"] == "adapter" and prov["config"]["variant"] == name
        assert {i["name"] for i in prov["inputs"]} >= {"data:corpus", "data:instructions_en", "base_model"}
        assert prov["statistics"]["mixture"]["instructions_en"] == {
            "rows": 18, "used": 9, "sources": [{"name": "../../train/sample/instructions_en.jsonl", "rows": 18,
                                                "used": 9, "weight": 0.5}]}
        assert not any(i["ref"].startswith("/") for i in prov["inputs"])  # no local absolute path is recorded
        push(api, r.output, adapter_repo, "model", name, f"train {name}")

    tokenizer = AutoTokenizer.from_pretrained(results["exp_2_111"].output)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Kaixo!"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    outputs = {}
    for name, r in results.items():
        for source, kwargs in ((r.output, {}), (adapter_repo, {"revision": name, "cache_dir": str(tmp_path / "c")})):
            base = AutoModelForCausalLM.from_pretrained(cfg.base_model_id, cache_dir=str(tmp_path / "c"))
            model = PeftModel.from_pretrained(base, str(source), **kwargs).eval()
            out = model.generate(**prompt, max_new_tokens=4, do_sample=False)
            assert out.shape[1] == prompt["input_ids"].shape[1] + 4
            with torch.no_grad():
                outputs[(name, str(source) == adapter_repo)] = model(**prompt).logits
    for name in results:  # the adapter read back from the hub branch is the trained one
        assert torch.allclose(outputs[(name, False)], outputs[(name, True)])
    assert not torch.allclose(outputs[("exp_2_101", False)], outputs[("exp_2_111", False)])


def test_loss_decreases_on_a_repeated_batch(cfg, tmp_path):
    cfg.data["instructions_target"][0].limit = 4
    cfg.training.update(max_steps=15, packing=False, learning_rate=5e-2, per_device_train_batch_size=4)
    only_chat = expand_variants(cfg)[0].__class__("exp_2_010", {"corpus": 0, "instructions_target": 1,
                                                                "instructions_en": 0})
    r = train_variant(cfg, only_chat, tmp_path)
    losses = [loss for _, loss in r.losses]
    assert len(losses) == 15 and all(math.isfinite(x) for x in losses)
    # from ~ln(vocab) at random init, the same batch seen 15 times must be fitted better and better
    assert losses[-1] < losses[0] - 0.1 and sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True  # an interruption right after the checkpoint at `step`


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_resume_continues_the_step_count(cfg, tmp_path):
    v = variant(cfg, "exp_2_111")
    first = train_variant(cfg, v, tmp_path, callbacks=[StopAt(6)])
    assert first.global_step == 6 and (tmp_path / "exp_2_111.checkpoints" / "checkpoint-6").is_dir()
    executed = StepCounter()
    resumed = train_variant(cfg, v, tmp_path, resume=True, callbacks=[executed])
    assert resumed.resumed_from.endswith("checkpoint-6") and resumed.global_step == 12
    assert executed.steps == list(range(7, 13))  # continued, not restarted
    assert [step for step, _ in resumed.losses] == list(range(1, 13))  # the curve keeps the first run's part
    assert resumed.losses[:6] == first.losses
    prov = json.loads((resumed.output / "hubtool.json").read_text())
    assert prov["statistics"]["resumed_from_step"] == 6


def test_labels_mask_user_turns_on_token_ids(cfg, tmp_path):
    p = prepare(cfg, variant(cfg, "exp_2_111"), tmp_path)
    tok = p.tokenizer
    messages = [{"role": "system", "content": "Euskaraz erantzun beti."},
                {"role": "user", "content": "Zein da Arabako hiriburua?"},
                {"role": "assistant", "content": "Gasteiz da."},
                {"role": "user", "content": "Eta Bizkaikoa?"},
                {"role": "assistant", "content": "Bilbo."}]
    enc = encode_chat(tok, messages)
    trained = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tok.decode(trained) == "Gasteiz da.<|eot_id|>Bilbo.<|eot_id|>"
    masked = tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if not m])
    assert "Zein da Arabako hiriburua?" in masked and "Eta Bizkaikoa?" in masked and "Gasteiz" not in masked
    # TRL's own prepared (labelled, packed) dataset: every packed segment is one sample (cut at max_length), and
    # its labels are the sample's ids where the mask is 1, else -100
    limit = cfg.training["max_length"]
    expected = {}
    for e in p.mixture.examples:
        expected[tuple(e["input_ids"][:limit])] = [t if m else -100 for t, m in zip(e["input_ids"], e["assistant_masks"])][:limit]
    packed, segments = [], 0
    for row in p.trainer.train_dataset:
        start = 0
        for length in row["seq_lengths"]:
            ids, labels = row["input_ids"][start:start + length], row["labels"][start:start + length]
            assert labels == expected[tuple(ids)]
            packed += labels
            start, segments = start + length, segments + 1
        assert start == len(row["input_ids"])
    assert segments == len(p.mixture.examples)  # every sample packed once, none dropped
    chat_tokens = sum(1 for e in p.mixture.examples if e["source"] != "corpus" for m in e["assistant_masks"] if not m)
    assert packed.count(-100) > 0 and chat_tokens > 0


def test_merge_writes_a_full_model_equal_to_base_plus_adapter(cfg, tmp_path):
    from peft import PeftModel

    cfg.merge, cfg.training["max_steps"] = True, 4
    r = train_variant(cfg, variant(cfg, "exp_2_101"), tmp_path)
    merged = AutoModelForCausalLM.from_pretrained(r.merged).eval()
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny-base")
    adapted = PeftModel.from_pretrained(base, str(r.output)).eval()
    ids = torch.tensor([[1, 5, 9, 20, 33]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-5)
    assert json.loads((r.merged / "hubtool.json").read_text())["kind"] == "model"


def test_qlora_without_a_gpu_is_a_clear_error(cfg, tmp_path):
    cfg.qlora = True
    with pytest.raises(ValueError, match="qlora needs a CUDA GPU"):
        prepare(cfg, variant(cfg, "exp_2_100"), tmp_path)


class EmbeddingNoise(TrainerCallback):
    """Records, at every training forward, how far the input embeddings are from a plain table lookup."""

    def __init__(self):
        self.max_noise, self.bounds = [], []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        embeddings = model.get_input_embeddings()  # hooks run in order: after the Trainer's NEFTune hook

        def record(module, inputs, output):
            plain = torch.nn.functional.embedding(inputs[0], module.weight)
            self.max_noise.append(float((output - plain).abs().max()))
            self.bounds.append((args.neftune_noise_alpha or 0) / math.sqrt(output.shape[1] * output.shape[2]))
        self.handle = embeddings.register_forward_hook(record)

    def on_train_end(self, args, state, control, **kwargs):
        self.handle.remove()


def test_full_fine_tuning_with_neftune_writes_a_model_artifact(cfg, tmp_path):
    """NEFTune must change what the model sees while training (noise within NEFTune's bound alpha/sqrt(L*d)),
    not only be written in the config."""
    from hub_tools.validate import validate_artifact

    cfg.mode = "full"
    cfg.training.update(max_steps=3, neftune_noise_alpha=5.0)
    noise = EmbeddingNoise()
    r = train_variant(cfg, variant(cfg, "exp_2_111"), tmp_path, callbacks=[noise])
    assert r.global_step == 3 and all(math.isfinite(x) for _, x in r.losses)
    assert len(noise.max_noise) == 3 * cfg.training.get("gradient_accumulation_steps", 1)
    assert all(0 < n <= b * (1 + 1e-5) for n, b in zip(noise.max_noise, noise.bounds)), (noise.max_noise, noise.bounds)
    assert all(n > b / 2 for n, b in zip(noise.max_noise, noise.bounds))  # uniform noise over thousands of values
    assert (r.output / "model.safetensors").is_file() and not (r.output / "adapter_config.json").exists()
    prov = json.loads((r.output / "hubtool.json").read_text())
    assert prov["kind"] == "model" and prov["config"]["training"]["neftune_noise_alpha"] == 5.0
    assert validate_artifact(r.output).ok(strict=True)
    tuned = AutoModelForCausalLM.from_pretrained(r.output)
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny-base")
    assert not torch.equal(tuned.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight)


def test_without_neftune_the_embeddings_are_a_plain_lookup(cfg, tmp_path):
    cfg.training.update(max_steps=1)
    noise = EmbeddingNoise()
    train_variant(cfg, variant(cfg, "exp_2_100"), tmp_path, callbacks=[noise])
    assert noise.max_noise == [0.0]
