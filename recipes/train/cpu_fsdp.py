"""`python -m recipes.train` under FSDP2 on CPU processes (gloo): for the tests and the GPU benchmark's dry
mode, so the FSDP code path runs where there is no GPU.

accelerate 1.15 turns FSDP on only for GPU-like devices: on CPU its state stays MULTI_CPU and drops the
FSDP plugin, so a CPU run would silently be DDP. This launcher configures the state the way accelerate
does on GPUs (distributed type FSDP, the plugin built from the FSDP_* variables that `accelerate launch`
set from the config file) before the recipe starts; the training config passes
`accelerator_config: {use_configured_state: true}` so the Trainer uses that state. Everything else (FSDP2
wrapping, RAM-efficient loading, sharded checkpoints, the full state dict gathered at the final save) is
accelerate's, transformers' and the recipe's own code.

    accelerate launch --config_file fsdp.yaml -m recipes.train.cpu_fsdp --config CONFIG --variant V
"""
from __future__ import annotations


def configure_cpu_fsdp() -> None:
    """Set accelerate's state to FSDP on CPU processes (call before the recipe builds its SFTConfig)."""
    from accelerate import Accelerator, PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    partial = PartialState(cpu=True)  # gloo
    assert partial.distributed_type == DistributedType.MULTI_CPU, partial.distributed_type
    partial.distributed_type = DistributedType.FSDP
    Accelerator(cpu=True).state.fsdp_plugin = FullyShardedDataParallelPlugin()


def main() -> None:
    from recipes.train.__main__ import main as recipe_main

    configure_cpu_fsdp()
    recipe_main()


if __name__ == "__main__":
    main()
