"""GPU smoke and speed test of the training recipe: LoRA SFT and full fine-tuning (FSDP2, one process) of a
randomly initialised ~1B-parameter Llama in bf16, with best-fit packing and gradient checkpointing, through
`recipes.train` itself. Prints tokens/s, model FLOPs utilisation (MFU) and peak memory per phase, then
validates the artifact each phase wrote and reloads it. Meant to finish in under 8 minutes on one H100/H200.

The GPU machine needs torch and accelerate, and no network: hubtool's training stack (transformers, peft, trl,
datasets, huggingface_hub, ... at the versions its tests run on; benchmarks/gpu/requirements.txt) comes from a
wheel folder prepared beforehand on a machine with network, installed ahead of the image's own packages:

    python benchmarks/gpu/prepare_wheels.py --python-version 3.12 --dest .whl
    # copy the repository with .whl/ to the GPU machine, then:
    python benchmarks/gpu/train_smoke.py --wheels .whl --out benchmarks/results/gpu_smoke.json

The results file is rewritten after each phase (a phase cut off by a time limit leaves the ones before it).
`--profile` also writes a torch.profiler table of a few training steps per phase beside the results file.

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


def install_wheels(folder: Path, target: Path) -> None:
    """Every wheel of the folder into `target`, ahead of the image's packages on the path of this process and
    of the phases (no dependency resolution: the folder holds the whole set, prepare_wheels.py)."""
    wheels = sorted(str(w) for w in folder.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"no wheels in {folder}: run benchmarks/gpu/prepare_wheels.py where there is network")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--upgrade",
                    "--target", str(target), *wheels], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))


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


def train_config(work: Path, base: Path, mode: str, dry: bool, batch: int = 1, accumulation: int = 8) -> Path:
    """The phase's recipe config. The default batch is one packed sequence per forward pass, accumulated 8 times:
    TRL trains packed batches padding-free (the batch flattened into one row), and with SDPA the attention then
    spans the whole flattened batch under a dense block-diagonal mask (quadratic in batch x length). A GPU run
    with 8 rows per pass measured 5.8% MFU for full fine-tuning (docs/train-and-evaluate.md)."""
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
                     "per_device_train_batch_size": 1 if dry else batch,
                     "gradient_accumulation_steps": 2 if dry else accumulation, "max_length": 128 if dry else 4096,
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


PROFILED_STEP = 3  # the optimizer step --profile records (after two warm-up steps); timing starts after it


def profile_table(work: Path, mode: str) -> Path:
    """Where a phase writes its --profile table."""
    return work / f"{mode}.profile.txt"


def run_phase(config: Path, mode: str, dry: bool, profile: Path | None = None) -> dict:
    """Train one phase in this process (called in a child process per phase) and measure it. With `profile`,
    one optimizer step runs under torch.profiler: its table goes to that file, the share of the step's wall
    time the GPU spent in kernels into the result."""
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
            self.profiler = None
            self.profiled: dict | None = None

        def on_step_begin(self, args, state, control, **kwargs):
            if profile and state.global_step == PROFILED_STEP - 1:
                from torch.profiler import ProfilerActivity
                from torch.profiler import profile as torch_profile

                cuda = torch.cuda.is_available()
                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
                self.profiler = torch_profile(activities=activities)
                self.profiler.__enter__()
                self.profile_start = time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            self.fsdp = bool(getattr(kwargs.get("model"), "_is_fsdp_managed_module", False)) or any(
                type(m).__name__.startswith("FSDP") for m in kwargs["model"].modules())

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.marks.append((time.perf_counter(), state.num_input_tokens_seen))
            if self.profiler is not None:
                wall = time.perf_counter() - self.profile_start
                self.profiler.__exit__(None, None, None)
                events = self.profiler.key_averages()
                cuda = torch.cuda.is_available()
                kernel_us = sum(e.self_device_time_total for e in events) if cuda else 0
                profile.write_text(f"optimizer step {state.global_step}, {wall:.3f} s wall\n" + events.table(
                    sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=40) + "\n"
                    + events.table(sort_by="self_cpu_time_total", row_limit=25))
                self.profiled = {"step": state.global_step, "wall_s": round(wall, 3),
                                 "gpu_busy_share": round(kernel_us / 1e6 / wall, 3) if cuda else None}
                self.profiler = None

    cfg = load_train_config(config)
    clock = Clock()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train_variant(cfg, expand_variants(cfg)[0], callbacks=[clock])
    warm = min(PROFILED_STEP if clock.profiled else 2, len(clock.marks) - 2)
    (t0, n0), (t1, n1) = clock.marks[warm], clock.marks[-1]
    tokens_per_s = (n1 - n0) / (t1 - t0)
    base = AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="auto")
    params = sum(p.numel() for p in base.parameters())
    c = base.config
    seq = cfg.training["max_length"]
    weights = (6 if mode == "full" else 4) * params
    per_token = weights + 12 * c.num_hidden_layers * c.hidden_size * seq
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
            "per_device_train_batch_size": cfg.training["per_device_train_batch_size"],
            "gradient_accumulation_steps": cfg.training["gradient_accumulation_steps"],
            "mfu": round(tokens_per_s * per_token / (peak * 1e12), 4) if peak else None,
            "mfu_weights_only": round(tokens_per_s * weights / (peak * 1e12), 4) if peak else None,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available()
            else None, "fsdp": clock.fsdp, "artifact_valid": report.ok(strict=True), "safetensors_files": shards,
            "reloaded_loss_finite": loss == loss and abs(loss) != float("inf"),
            "final_training_loss": result.losses[-1][1] if result.losses else None, "profile": clock.profiled}


def write_summary(args: argparse.Namespace, results: list[dict], start: float) -> None:
    """The results so far (rewritten after each phase), and the profile tables beside them."""
    import torch

    if not args.out:
        return
    done = len(results) == 2
    summary = {"benchmark": "gpu_smoke", "dry": args.dry, "complete": done, "torch": torch.__version__,
               "seconds": round(time.perf_counter() - start, 1), "phases": results,
               "full_vs_lora_tokens_per_s": round(results[1]["tokens_per_s"] / results[0]["tokens_per_s"], 3)
               if done else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for r in results:
        table = profile_table(args.work, r["mode"])
        if args.profile and table.exists():
            args.out.with_name(f"{args.out.stem}.{r['mode']}.profile.txt").write_text(table.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", help="Tiny model on CPU: checks the script, measures nothing.")
    parser.add_argument("--wheels", type=Path, default=None, help="Install the missing packages from this folder.")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "gpu-smoke")
    parser.add_argument("--out", type=Path, default=None, help="Write the results JSON here.")
    parser.add_argument("--batch", type=int, default=1, help="Packed sequences per forward pass (default 1).")
    parser.add_argument("--accumulation", type=int, default=8, help="Gradient accumulation steps (default 8).")
    parser.add_argument("--profile", action="store_true", help="Profile one training step per phase (torch.profiler; "
                        "the table is written beside --out, or into --work).")
    parser.add_argument("--phase", choices=["lora", "full"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.phase:  # child process: one phase
        table = profile_table(args.work, args.phase) if args.profile else None
        print("RESULT " + json.dumps(run_phase(args.work / f"{args.phase}.yaml", args.phase, args.dry, table)),
              flush=True)
        return 0
    if args.wheels:
        install_wheels(args.wheels, args.work / "site")
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
        train_config(args.work, base, mode, args.dry, args.batch, args.accumulation)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if mode == "full":
            env.update(fsdp_env(args.dry))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", mode, "--work", str(args.work)]
        cmd += (["--dry"] if args.dry else []) + (["--profile"] if args.profile else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-5000:], file=sys.stderr)
            return 1
        results.append(json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:]))
        r = results[-1]
        print(f"{mode:>4}: {r['tokens_per_s']:>10,.0f} tokens/s  MFU {r['mfu'] if r['mfu'] is not None else 'n/a'}  "
              f"peak memory {r['peak_memory_gib']} GiB  fsdp={r['fsdp']}  valid={r['artifact_valid']}  "
              f"reloaded={r['reloaded_loss_finite']}" + (f"  GPU busy {r['profile']['gpu_busy_share']}"
                                                          if r["profile"] else ""), flush=True)
        write_summary(args, results, start)
    ok = all(r["artifact_valid"] and r["reloaded_loss_finite"] for r in results) and results[1]["fsdp"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
