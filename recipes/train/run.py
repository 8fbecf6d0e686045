"""Train one variant with TRL's SFTTrainer (LoRA through peft, or full fine-tuning) and write it as an
artifact: weights (safetensors, sharded), tokenizer with its chat template, adapter_config naming the base
by its Hub id, training_metrics.json + loss.png, and hubtool.json.

Order matters at scale: the SFTConfig is built first (it starts torch.distributed and reads accelerate's
FSDP / DeepSpeed settings), then the data is tokenized once (main process first, cached), then the model
is loaded, so FSDP's RAM-efficient loading and ZeRO-3's partitioned init apply to it.

Multi-GPU / multi-node: launch the same entry point with accelerate (configs in recipes/configs/accelerate/,
a Slurm script in examples/slurm/):
    accelerate launch --config_file recipes/configs/accelerate/fsdp.yaml -m recipes.train \
        --config recipes/configs/train/latxa-8b-instruct-full-grid.yaml --variant exp_2_111
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .artifact import fix_adapter_base, merge_adapter, save_weights, training_summary, write_metrics
from .config import TrainConfig, TrainConfigError, Variant, expand_variants
from .data import build_mixture

RECIPE_VERSION = "2.0"
TINY_BASE = "hubtool:tiny-llama"  # builds the bundled tiny Llama (CPU profiles and tests)


@dataclass
class TrainResult:
    variant: str
    output: Path
    merged: Path | None
    global_step: int
    losses: list[tuple[int, float]]
    resumed_from: str | None
    summary: dict | None = None


def resolve_base(cfg: TrainConfig, output_root: Path) -> tuple[str, str]:
    """(where to load the base from, the Hub id to record)."""
    if cfg.base_model == TINY_BASE:
        from hub_tools.samples.tiny_models import save_tiny_model

        from accelerate import PartialState

        path = output_root / "tiny-base"
        with PartialState().main_process_first():  # one rank builds it, the others read it (every rank enters:
            if not (path / "config.json").exists():  # the barrier is a collective)
                save_tiny_model(path)
        return str(path), cfg.base_model_id or "hubtool-demo/tiny-llama-eu"
    source = cfg.resolve(cfg.base_model)
    if Path(source).exists() and not cfg.base_model_id:
        raise ValueError("base_model is a local folder: set base_model_id to its Hub id (adapters must name it)")
    return source, cfg.base_model_id or cfg.base_model


def _last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def build_args(cfg: TrainConfig, variant_name: str, ckpts: Path):
    """trl.SFTConfig from the config's `training:` mapping, plus what the recipe owns: output_dir, the Hub
    checkpoint branch, CPU mode, and gradient accumulation derived from `effective_batch_size`."""
    import torch
    from trl import SFTConfig

    values = dict(cfg.training)
    values["output_dir"] = str(ckpts)
    values.setdefault("report_to", "none")
    if not torch.cuda.is_available():
        values["use_cpu"] = True
    if cfg.hub_checkpoints:
        values.update(push_to_hub=True, hub_model_id=cfg.hub_checkpoints.repo, hub_revision=variant_name,
                      hub_strategy="checkpoint", hub_private_repo=cfg.hub_checkpoints.private)

    def make(v: dict):
        try:
            return SFTConfig(**v)
        except (TypeError, ValueError) as err:
            raise TrainConfigError(f"training: {err}") from None

    args = make(values)
    if cfg.effective_batch_size:
        per_step = args.per_device_train_batch_size * args.world_size
        if cfg.effective_batch_size % per_step:
            raise TrainConfigError(
                f"effective_batch_size {cfg.effective_batch_size} is not a multiple of per_device_train_batch_size "
                f"({args.per_device_train_batch_size}) x world size ({args.world_size})")
        accumulation = cfg.effective_batch_size // per_step
        if accumulation != args.gradient_accumulation_steps:
            args = make({**values, "gradient_accumulation_steps": accumulation})
    return args


def check_installed(args) -> None:
    """Fail before tokenizing for hours when an option needs a package that is missing (GPU-only ones live in
    the `gpu` extra)."""
    import importlib.util

    if args.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
        raise TrainConfigError("training.use_liger_kernel needs liger-kernel (CUDA): pip install 'hubtool[gpu]'")
    attn = (args.model_init_kwargs or {}).get("attn_implementation") or ""
    if attn.startswith("flash_attention") and not any(importlib.util.find_spec(m) for m in ("flash_attn", "kernels")):
        raise TrainConfigError(f"attn_implementation {attn} needs flash-attn, or `kernels` (in the gpu extra) for "
                               "transformers' prebuilt Hub kernel, on a CUDA machine (docs/train-and-evaluate.md, "
                               "'Installing'); sdpa needs nothing")


def load_model(cfg: TrainConfig, base_path: str, args) -> tuple[object, dict]:
    """The backbone, loaded after the SFTConfig exists; and how it was loaded (for the record)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.integrations import is_deepspeed_zero3_enabled
    from transformers.integrations.fsdp import is_fsdp_enabled

    init = dict(args.model_init_kwargs or {})
    if cfg.qlora:
        if not torch.cuda.is_available():
            raise ValueError("qlora needs a CUDA GPU (4-bit bitsandbytes); set qlora: false on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ValueError("qlora needs bitsandbytes: pip install 'hubtool[gpu]'") from None
        from transformers import BitsAndBytesConfig

        init["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
    loading = {"fsdp_cpu_ram_efficient_loading": is_fsdp_enabled(), "deepspeed_zero3_init": is_deepspeed_zero3_enabled(),
               "attn_implementation": init.get("attn_implementation")}
    model = AutoModelForCausalLM.from_pretrained(base_path, revision=cfg.base_model_revision, **init)
    return model, loading


@dataclass
class Prepared:
    trainer: object
    tokenizer: object
    mixture: object
    base_id: str
    base_path: str
    out: Path
    ckpts: Path
    prov: object
    loading: dict


def load_tokenizer(cfg: TrainConfig, base_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path, revision=cfg.base_model_revision)
    if cfg.chat_template:
        template = Path(cfg.resolve(cfg.chat_template))
        tokenizer.chat_template = template.read_text(encoding="utf-8") if template.is_file() else cfg.chat_template
    if not tokenizer.chat_template:
        raise ValueError("the backbone has no chat template: set `chat_template` in the config")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def prepare(cfg: TrainConfig, variant: Variant, output_root: Path | None = None,
            callbacks: list | None = None) -> Prepared:
    """SFTConfig, data (tokenized once), model and SFTTrainer for one variant, ready to train."""
    import torch
    from trl import SFTTrainer

    from hub_tools.artifacts.provenance import Provenance, RecipeInfo

    output_root = Path(output_root or cfg.resolve(cfg.output_dir))
    out, ckpts = output_root / variant.name, output_root / f"{variant.name}.checkpoints"
    args = build_args(cfg, variant.name, ckpts)  # first: starts torch.distributed, reads FSDP/DeepSpeed settings
    check_installed(args)
    base_path, base_id = resolve_base(cfg, output_root)
    prov = Provenance.create(kind="adapter" if cfg.mode == "lora" else "model", name=variant.name,
                             language=[cfg.language], recipe=RecipeInfo(name="train", version=RECIPE_VERSION),
                             config=cfg.published() | {"variant": variant.name, "use": variant.use},
                             seed=args.seed)
    tokenizer = load_tokenizer(cfg, base_path)
    with args.main_process_first(desc="tokenize the training data"):
        mixture = build_mixture(cfg, variant.use, tokenizer, num_proc=args.dataset_num_proc)
    train = mixture.examples.remove_columns("source")
    torch.manual_seed(args.seed)
    model, loading = load_model(cfg, base_path, args)
    peft_config = None
    if cfg.mode == "lora":
        from peft import LoraConfig

        try:
            peft_config = LoraConfig(task_type="CAUSAL_LM", **cfg.lora)
        except TypeError as err:
            raise TrainConfigError(f"lora: {err}") from None
    if cfg.hub_checkpoints and args.process_index == 0:
        from .hub_checkpoints import ensure_branch

        ensure_branch(cfg.hub_checkpoints.repo, variant.name, cfg.hub_checkpoints.private)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
    return Prepared(trainer, tokenizer, mixture, base_id, base_path, out, ckpts, prov, loading)


def find_resume_point(cfg: TrainConfig, variant: str, ckpts: Path) -> str | None:
    """The last local checkpoint; with hub_checkpoints, a node without one first downloads the variant's branch
    (its local main process does; every rank takes part in the barrier)."""
    if cfg.hub_checkpoints:
        from accelerate import PartialState

        from .hub_checkpoints import download_last_checkpoint

        state = PartialState()
        with state.local_main_process_first():
            if state.is_local_main_process and _last_checkpoint(ckpts) is None:
                download_last_checkpoint(cfg.hub_checkpoints.repo, variant, ckpts)
    return _last_checkpoint(ckpts)


def train_variant(cfg: TrainConfig, variant: Variant, output_root: Path | None = None, resume: bool = False,
                  callbacks: list | None = None) -> TrainResult:
    from hub_tools.artifacts.provenance import InputFingerprint, write_provenance

    p = prepare(cfg, variant, output_root, callbacks)
    trainer, tokenizer, mixture, out = p.trainer, p.tokenizer, p.mixture, p.out
    args = trainer.args
    resumed_from = find_resume_point(cfg, variant.name, p.ckpts) if resume else None
    trainer.train(resume_from_checkpoint=resumed_from)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(trainer, out, cfg.max_shard_size, cfg.mode == "lora")
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    summary = training_summary(args, args.world_size, mixture.counts, len(mixture.examples),
                               len(trainer.train_dataset), trainer.state.log_history, p.loading)
    result = TrainResult(variant.name, out, None, trainer.state.global_step, losses, resumed_from, summary)
    if not trainer.accelerator.is_main_process:
        return result
    tokenizer.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # peft's stub card names the local base; hubtool renders the card
    if cfg.mode == "lora":
        fix_adapter_base(out, p.base_id)
    prov = p.prov
    prov.runtime = write_metrics(out, trainer.state.log_history, variant.name)  # durations: not the artifact
    prov.inputs += mixture.input_fingerprints()  # per source: its name, configured path or Hub id, and hash
    prov.inputs.append(InputFingerprint(name="base_model", ref=p.base_id, revision=cfg.base_model_revision))
    prov.statistics = {"mixture": mixture.counts, "examples": len(mixture.examples),
                       "global_step": trainer.state.global_step, "final_loss": losses[-1][1] if losses else None,
                       "resumed_from_step": _step_of(resumed_from), "training": summary}
    prov.card = {"base_model": p.base_id, "base_model_relation": "adapter" if cfg.mode == "lora" else "finetune",
                 "tags": ["hubtool", "sft", variant.name]}
    prov.finish()
    write_provenance(out, prov)
    if cfg.merge and cfg.mode == "lora":
        result.merged = out.parent / f"{variant.name}-merged"
        merge_adapter(p.base_path, cfg.base_model_revision, out, result.merged, cfg.max_shard_size)
        tokenizer.save_pretrained(result.merged)
        merged_prov = prov.model_copy(deep=True)
        merged_prov.kind, merged_prov.card = "model", {**prov.card, "base_model_relation": "merge"}
        write_provenance(result.merged, merged_prov)
    return result


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


def _step_of(checkpoint: str | None) -> int | None:
    return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None
