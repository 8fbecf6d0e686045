"""Train one variant with TRL's SFTTrainer (LoRA through peft, or full fine-tuning) and write it as an
artifact: weights (safetensors), tokenizer with its chat template, adapter_config naming the base by
its Hub id, training_metrics.json + loss.png, and hubtool.json.

Multi-GPU: launch the same entry point with accelerate (configs in recipes/configs/accelerate/):
    accelerate launch --config_file recipes/configs/accelerate/fsdp.yaml -m recipes.train \
        --config recipes/configs/train/latxa-8b-lora-grid.yaml --variant exp_2_111
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import TrainConfig, TrainConfigError, Variant, expand_variants
from .data import build_mixture

RECIPE_VERSION = "1.0"
TINY_BASE = "hubtool:tiny-llama"  # builds the bundled tiny Llama (CPU profiles and tests)


@dataclass
class TrainResult:
    variant: str
    output: Path
    merged: Path | None
    global_step: int
    losses: list[tuple[int, float]]
    resumed_from: str | None


def resolve_base(cfg: TrainConfig, output_root: Path) -> tuple[str, str]:
    """(where to load the base from, the Hub id to record)."""
    if cfg.base_model == TINY_BASE:
        from hub_tools.samples.tiny_models import save_tiny_model

        path = output_root / "tiny-base"
        if not (path / "config.json").exists():
            save_tiny_model(path)
        return str(path), cfg.base_model_id or "hubtool-demo/tiny-llama-eu"
    source = cfg.resolve(cfg.base_model)
    if Path(source).exists() and not cfg.base_model_id:
        raise ValueError("base_model is a local folder: set base_model_id to its Hub id (adapters must name it)")
    return source, cfg.base_model_id or cfg.base_model


def _last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


@dataclass
class Prepared:
    trainer: object
    tokenizer: object
    mixture: object
    base_id: str
    out: Path
    ckpts: Path
    prov: object


def prepare(cfg: TrainConfig, variant: Variant, output_root: Path | None = None,
            callbacks: list | None = None) -> Prepared:
    """Tokenizer, data mixture, model and SFTTrainer for one variant, ready to train."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from hub_tools.artifacts.provenance import Provenance, RecipeInfo

    output_root = Path(output_root or cfg.resolve(cfg.output_dir))
    out, ckpts = output_root / variant.name, output_root / f"{variant.name}.checkpoints"
    base_path, base_id = resolve_base(cfg, output_root)
    prov = Provenance.create(kind="adapter" if cfg.mode == "lora" else "model", name=variant.name,
                             language=[cfg.language], recipe=RecipeInfo(name="train", version=RECIPE_VERSION),
                             config=cfg.model_dump(mode="json") | {"variant": variant.name, "use": variant.use},
                             seed=cfg.training.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_path, revision=cfg.base_model_revision)
    if cfg.chat_template:
        template = Path(cfg.resolve(cfg.chat_template))
        tokenizer.chat_template = template.read_text() if template.is_file() else cfg.chat_template
    if not tokenizer.chat_template:
        raise ValueError("the backbone has no chat template: set `chat_template` in the config")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    mixture = build_mixture(cfg, variant.use, tokenizer)
    import datasets

    train = datasets.Dataset.from_list([{k: v for k, v in e.items() if k != "source"} for e in mixture.examples])
    torch.manual_seed(cfg.training.seed)
    quantization = None
    if cfg.mode == "lora" and cfg.lora.qlora:
        if not torch.cuda.is_available():
            raise ValueError("lora.qlora needs a CUDA GPU (4-bit bitsandbytes); set qlora: false on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ValueError("lora.qlora needs bitsandbytes: pip install 'hubtool[gpu]'") from None
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                          bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(base_path, revision=cfg.base_model_revision,
                                                 quantization_config=quantization)
    peft_config = None
    if cfg.mode == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                                 target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")
    t = cfg.training
    args = SFTConfig(
        output_dir=str(ckpts), num_train_epochs=t.num_train_epochs, max_steps=t.max_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler_type, lr_scheduler_kwargs=t.lr_scheduler_kwargs,
        warmup_steps=t.warmup_ratio, adam_beta1=t.adam_beta1, adam_beta2=t.adam_beta2, weight_decay=t.weight_decay,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps, max_length=t.max_length, packing=t.packing,
        packing_strategy="wrapped", neftune_noise_alpha=t.neftune_noise_alpha, seed=t.seed, data_seed=t.seed,
        logging_steps=t.logging_steps, save_steps=t.save_steps, save_total_limit=t.save_total_limit, bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing, report_to=[], completion_only_loss=False,
        dataset_num_proc=None, use_cpu=not torch.cuda.is_available())
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    return Prepared(trainer, tokenizer, mixture, base_id, out, ckpts, prov)


def train_variant(cfg: TrainConfig, variant: Variant, output_root: Path | None = None, resume: bool = False,
                  callbacks: list | None = None) -> TrainResult:
    from hub_tools.artifacts.provenance import InputFingerprint, write_provenance

    p = prepare(cfg, variant, output_root, callbacks)
    trainer, tokenizer, mixture, base_id, out, ckpts, prov = (p.trainer, p.tokenizer, p.mixture, p.base_id, p.out,
                                                                p.ckpts, p.prov)
    output_root = out.parent
    resumed_from = _last_checkpoint(ckpts) if resume else None
    trainer.train(resume_from_checkpoint=resumed_from)
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # peft's stub card names the local base path; hubtool renders the card
    if cfg.mode == "lora":
        adapter_cfg = json.loads((out / "adapter_config.json").read_text())
        adapter_cfg["base_model_name_or_path"] = base_id  # never the local path the training ran from
        if isinstance(adapter_cfg.get("target_modules"), list):  # a set in peft: its order changes per process
            adapter_cfg["target_modules"] = sorted(adapter_cfg["target_modules"])
        (out / "adapter_config.json").write_text(json.dumps(adapter_cfg, indent=2) + "\n")
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    prov.runtime = write_metrics(out, trainer.state.log_history, variant.name)
    prov.inputs += mixture.input_fingerprints()  # per source: name, the path as configured or Hub id, hash
    prov.inputs.append(InputFingerprint(name="base_model", ref=base_id, revision=cfg.base_model_revision))
    prov.statistics = {"mixture": mixture.counts, "examples": len(mixture.examples),
                       "global_step": trainer.state.global_step, "final_loss": losses[-1][1] if losses else None,
                       "resumed_from_step": _step_of(resumed_from)}
    prov.card = {"base_model": base_id, "base_model_relation": "adapter" if cfg.mode == "lora" else "finetune",
                 "tags": ["hubtool", "sft", variant.name]}
    prov.finish()
    write_provenance(out, prov)
    merged = None
    if cfg.merge and cfg.mode == "lora":
        merged = output_root / f"{variant.name}-merged"
        trainer.model.merge_and_unload().save_pretrained(merged, safe_serialization=True)
        tokenizer.save_pretrained(merged)
        merged_prov = prov.model_copy(deep=True)
        merged_prov.kind, merged_prov.card = "model", {**prov.card, "base_model_relation": "merge"}
        write_provenance(merged, merged_prov)
    return TrainResult(variant.name, out, merged, trainer.state.global_step, losses, resumed_from)


def train_grid(cfg: TrainConfig, variants: tuple[str, ...] = (), output_root: Path | None = None,
               resume: bool = False, on_step: Callable[[str], None] | None = None) -> list[TrainResult]:
    """Train every variant of the config's grid (or only ``variants``), one artifact per variant.

    Raises TrainConfigError for a variant name the grid does not have."""
    grid = expand_variants(cfg)
    unknown = set(variants) - {v.name for v in grid}
    if unknown:
        raise TrainConfigError(f"no variant {', '.join(sorted(unknown))} in the grid; list them with --list")
    results = []
    for v in [v for v in grid if not variants or v.name in variants]:
        if on_step:
            on_step(f"training {v.name} ...")
        results.append(train_variant(cfg, v, output_root, resume=resume))
    return results


def _files_sha256(files: list[str]) -> str:
    import hashlib

    from hub_tools.artifacts.provenance import file_sha256

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(file_sha256(f).encode())
    return h.hexdigest()


def _step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None


RUNTIME_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")


def write_metrics(out: Path, log_history: list[dict], title: str) -> dict:
    """training_metrics.json (the log history) and loss.png (the loss curve). The run-time facts of the log
    (duration, throughput) are returned for hubtool.json instead: a rerun must give identical files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtime = {k: h[k] for h in log_history for k in RUNTIME_KEYS if k in h}
    history = [{k: v for k, v in h.items() if k not in RUNTIME_KEYS} for h in log_history]
    (out / "training_metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    points = [(h["step"], h["loss"]) for h in log_history if "loss" in h and math.isfinite(h["loss"])]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2)
    ax.set(xlabel="step", ylabel="training loss", title=f"{title}: training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", metadata={"Software": None})
    plt.close(fig)
    return runtime
