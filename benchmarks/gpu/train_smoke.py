"""GPU smoke and speed test of the training recipe: LoRA SFT and full fine-tuning (FSDP2, one process) of a
randomly initialised ~1B-parameter Llama in bf16, with best-fit packing and gradient checkpointing, through
`recipes.train` itself. Prints tokens/s, model FLOPs utilisation (MFU) and peak memory per phase, then
validates the artifact each phase wrote and reloads it. Meant to finish in under 8 minutes on one H100/H200.

The GPU machine needs only torch, transformers, peft and accelerate, and no network: the other packages come
from a wheel folder prepared beforehand on a machine with network (same Python version and platform):

    pip download -d wheels -r benchmarks/gpu/requirements.txt \
        --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64
    # copy the repository with wheels/ to the GPU machine, then:
    python benchmarks/gpu/train_smoke.py --wheels wheels --out benchmarks/results/gpu_smoke.json

`--dry` runs the same phases on CPU with a tiny config (a test runs it, so the script cannot rot); its
numbers measure nothing. MFU counts model FLOPs (6 N + 12 L d s per token for full fine-tuning, 4 N + 12 L d s
for LoRA, whose frozen weights get no weight gradients; recomputation by gradient checkpointing not counted)
against the GPU's dense bf16 peak.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, SXM datasheets
SIZES = {  # the ~1B model (Llama-3.2-1B's shape, a smaller vocabulary) and the CPU dry-run model
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=32768, max_position_embeddings=8192),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, max_position_embeddings=512),
}


def install_wheels(folder: Path) -> None:
    """The packages the recipe needs beyond torch/transformers/peft/accelerate, from a local wheel folder."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(folder), "-r",
                    str(Path(__file__).with_name("requirements.txt"))], check=True)


def build_base(folder: Path, size: str) -> None:
    """A randomly initialised Llama with the bundled tiny tokenizer (bf16 safetensors)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from hub_tools.samples.tiny_models import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(**SIZES[size], bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16 if size == "1b" else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def train_config(work: Path, base: Path, mode: str, dry: bool) -> Path:
    import yaml

    samples = ROOT / "recipes"
    data = {
        "name": f"gpu-smoke-{mode}", "base_model": str(base), "base_model_id": "hubtool-bench/random-llama",
        "backbone_code": 2, "mode": mode, "output_dir": str(work / mode),
        "data": {"corpus": {"path": str(samples / "corpus" / "sample" / "eu_books.parquet"), "weight": 40.0},
                 "instructions_target": {"path": str(samples / "train" / "sample" / "instructions_eu.jsonl"),
                                         "weight": 40.0}},
        "grid": {"corpus": [1], "instructions_target": [1]},
        "training": {"max_steps": 3 if dry else 30, "learning_rate": 1e-4 if mode == "lora" else 1e-5,
                     "per_device_train_batch_size": 2 if dry else 8, "max_length": 128 if dry else 4096,
                     "packing": True, "packing_strategy": "bfd_split", "gradient_checkpointing": True,
                     "bf16": not dry, "logging_steps": 1, "save_strategy": "no", "seed": 0,
                     "include_num_input_tokens_seen": "all",
                     "model_init_kwargs": {"dtype": "float32" if dry else "bfloat16",
                                           "attn_implementation": "sdpa"}},
    }
    if mode == "lora":
        data["lora"] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
                        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                           "down_proj"]}
    elif dry:
        data["training"]["accelerator_config"] = {"use_configured_state": True}  # CPU FSDP (recipes.train.cpu_fsdp)
    path = work / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def fsdp_env(dry: bool) -> dict[str, str]:
    """What `accelerate launch --config_file recipes/configs/accelerate/fsdp.yaml --num_processes 1` gives the
    process, computed by accelerate itself, plus torch.distributed's rendezvous for one process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    argv = ["--config_file", str(ROOT / "recipes" / "configs" / "accelerate" / "fsdp.yaml"), "--num_processes", "1",
            "--mixed_precision", "no" if dry else "bf16", "-m", "recipes.train"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    env = prepare_multi_gpu_env(args)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port))
    return env


def run_phase(config: Path, mode: str, dry: bool) -> dict:
    """Train one phase in this process (called in a child process per phase) and measure it."""
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback

    from hub_tools.validate import validate_artifact
    from recipes.train.config import expand_variants, load_train_config
    from recipes.train.run import train_variant

    if dry and mode == "full":
        from recipes.train.cpu_fsdp import configure_cpu_fsdp

        configure_cpu_fsdp()

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: list[tuple[float, int]] = []
            self.fsdp = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.fsdp = bool(getattr(kwargs.get("model"), "_is_fsdp_managed_module", False)) or any(
                type(m).__name__.startswith("FSDP") for m in kwargs["model"].modules())

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.marks.append((time.perf_counter(), state.num_input_tokens_seen))

    cfg = load_train_config(config)
    clock = Clock()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train_variant(cfg, expand_variants(cfg)[0], callbacks=[clock])
    warm = min(2, len(clock.marks) - 2)
    (t0, n0), (t1, n1) = clock.marks[warm], clock.marks[-1]
    tokens_per_s = (n1 - n0) / (t1 - t0)
    base = AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="auto")
    params = sum(p.numel() for p in base.parameters())
    c = base.config
    seq = cfg.training["max_length"]
    per_token = (6 if mode == "full" else 4) * params + 12 * c.num_hidden_layers * c.hidden_size * seq
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    report = validate_artifact(result.output, base_model_path=cfg.base_model if mode == "lora" else None)
    if mode == "lora":
        from peft import PeftModel

        reloaded = PeftModel.from_pretrained(base, str(result.output))
    else:
        reloaded = AutoModelForCausalLM.from_pretrained(result.output, dtype="auto")
    ids = torch.tensor([list(range(1, 65))])
    with torch.no_grad():
        loss = float(reloaded(input_ids=ids, labels=ids).loss)
    shards = len(list(result.output.glob("*.safetensors")))
    return {"mode": mode, "device": name, "parameters": params, "steps": result.global_step,
            "sequence_length": seq, "tokens_per_s": round(tokens_per_s, 1),
            "mfu": round(tokens_per_s * per_token / (peak * 1e12), 4) if peak else None,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available()
            else None, "fsdp": clock.fsdp, "artifact_valid": report.ok(strict=True), "safetensors_files": shards,
            "reloaded_loss_finite": loss == loss and abs(loss) != float("inf"),
            "final_training_loss": result.losses[-1][1] if result.losses else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", help="Tiny model on CPU: checks the script, measures nothing.")
    parser.add_argument("--wheels", type=Path, default=None, help="Install the missing packages from this folder.")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "gpu-smoke")
    parser.add_argument("--out", type=Path, default=None, help="Write the results JSON here.")
    parser.add_argument("--phase", choices=["lora", "full"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.phase:  # child process: one phase
        print("RESULT " + json.dumps(run_phase(args.work / f"{args.phase}.yaml", args.phase, args.dry)), flush=True)
        return 0
    if args.wheels:
        install_wheels(args.wheels)
    import torch

    if not args.dry and not torch.cuda.is_available():
        print("no CUDA device: run with --dry on CPU", file=sys.stderr)
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / "base"
    start = time.perf_counter()
    build_base(base, "tiny" if args.dry else "1b")
    results = []
    for mode in ("lora", "full"):
        train_config(args.work, base, mode, args.dry)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if mode == "full":
            env.update(fsdp_env(args.dry))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", mode, "--work", str(args.work)]
        proc = subprocess.run(cmd + (["--dry"] if args.dry else []), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-5000:], file=sys.stderr)
            return 1
        results.append(json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:]))
        r = results[-1]
        print(f"{mode:>4}: {r['tokens_per_s']:>10,.0f} tokens/s  MFU {r['mfu'] if r['mfu'] is not None else 'n/a'}  "
              f"peak memory {r['peak_memory_gib']} GiB  fsdp={r['fsdp']}  valid={r['artifact_valid']}  "
              f"reloaded={r['reloaded_loss_finite']}", flush=True)
    summary = {"benchmark": "gpu_smoke", "dry": args.dry, "torch": torch.__version__,
               "seconds": round(time.perf_counter() - start, 1), "phases": results,
               "full_vs_lora_tokens_per_s": round(results[1]["tokens_per_s"] / results[0]["tokens_per_s"], 3)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    ok = all(r["artifact_valid"] and r["reloaded_loss_finite"] for r in results) and results[1]["fsdp"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
