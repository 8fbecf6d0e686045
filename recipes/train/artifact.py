"""Writing a trained variant as an artifact folder: weights gathered once through the accelerator and
written by the main process in sharded safetensors, tokenizer, training_metrics.json + loss.png, and
hubtool.json with the numbers the model card shows (hyperparameters, world size, effective batch, data
mix, training curve)."""
from __future__ import annotations

import json
import math
from pathlib import Path

# SFTConfig values worth a line in the model card (the whole config is in hubtool.json anyway).
CARD_HYPERPARAMETERS = ("learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "num_train_epochs",
                        "max_steps", "optim", "adam_beta1", "adam_beta2", "adam_epsilon", "weight_decay",
                        "max_grad_norm", "max_length", "packing", "packing_strategy", "padding_free",
                        "neftune_noise_alpha", "per_device_train_batch_size", "gradient_accumulation_steps", "bf16",
                        "gradient_checkpointing", "use_liger_kernel", "seed")


def save_weights(trainer, out: Path, max_shard_size: str, is_lora: bool) -> None:
    """Gather the trained weights once (FSDP: a full state dict; ZeRO-3: the 16-bit consolidated one) and let
    the main process write them. Every rank must call this: the gather is a collective."""
    acc = trainer.accelerator
    if getattr(trainer, "is_fsdp_enabled", False):
        acc.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    state_dict = acc.get_state_dict(trainer.model_wrapped if trainer.is_deepspeed_enabled else trainer.model)
    if acc.is_main_process:
        model = acc.unwrap_model(trainer.model)
        kwargs = {} if is_lora else {"max_shard_size": max_shard_size}
        model.save_pretrained(out, state_dict=state_dict, safe_serialization=True, **kwargs)
    acc.wait_for_everyone()


def fix_adapter_base(out: Path, base_id: str) -> None:
    """adapter_config.json names the base by its Hub id, never the local path the training ran from."""
    path = out / "adapter_config.json"
    adapter_cfg = json.loads(path.read_text())
    adapter_cfg["base_model_name_or_path"] = base_id
    if isinstance(adapter_cfg.get("target_modules"), list):  # a set in peft: its order changes per process
        adapter_cfg["target_modules"] = sorted(adapter_cfg["target_modules"])
    path.write_text(json.dumps(adapter_cfg, indent=2) + "\n")


def merge_adapter(base_path: str, revision: str | None, adapter: Path, merged: Path, max_shard_size: str) -> None:
    """The saved adapter merged into a fresh copy of the base (on CPU, from the files just written), written in
    sharded safetensors."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_path, revision=revision, dtype="auto")
    PeftModel.from_pretrained(base, str(adapter)).merge_and_unload().save_pretrained(
        merged, safe_serialization=True, max_shard_size=max_shard_size)


def training_summary(args, world_size: int, mixture_counts: dict, examples: int, packed_rows: int | None,
                     log_history: list[dict], loading: dict) -> dict:
    """What the model card's training section shows, computed from this run."""
    values = args.to_dict()
    losses = [h["loss"] for h in log_history if "loss" in h]
    return {
        "world_size": world_size,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "effective_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size,
        "max_length": values.get("max_length"),
        "hyperparameters": {k: values[k] for k in CARD_HYPERPARAMETERS if k in values},
        "report_to": values.get("report_to"),
        "attn_implementation": (args.model_init_kwargs or {}).get("attn_implementation"),
        "data_mix": mixture_counts, "examples": examples, "packed_sequences": packed_rows,
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "loading": loading,
    }


RUNTIME_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")


def write_metrics(out: Path, log_history: list[dict], title: str) -> dict:
    """training_metrics.json (the log history) and loss.png (the loss curve). The log's run-time facts
    (duration, throughput) are returned for hubtool.json's ``runtime`` instead: a rerun gives identical files."""
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


def files_sha256(files: list[str]) -> str:
    import hashlib

    from hub_tools.artifacts.provenance import file_sha256

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(file_sha256(f).encode())
    return h.hexdigest()
