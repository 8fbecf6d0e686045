"""The datatrove executor of a recipe stage, from the recipe's `executor:` config (local, Slurm or Ray)."""
from __future__ import annotations

from pathlib import Path


def make_executor(ex, pipeline: list, tasks: int, logging_dir: Path, job_name: str, workers: int, depends=None):
    """``ex`` is a recipe's ExecutorConfig (recipes/corpus/config.py). Finished tasks are skipped on a re-run."""
    if ex.type == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(logging_dir),
                                     skip_completed=True)
    if ex.type == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(pipeline, tasks=tasks, time=ex.slurm.time, partition=ex.slurm.partition,
                                     cpus_per_task=ex.slurm.cpus_per_task, mem_per_cpu_gb=ex.slurm.mem_per_cpu_gb,
                                     sbatch_args=ex.slurm.sbatch_args, logging_dir=str(logging_dir),
                                     job_name=job_name, depends=depends)
    from datatrove.executor import RayPipelineExecutor  # needs `ray` installed

    return RayPipelineExecutor(pipeline, tasks=tasks, logging_dir=str(logging_dir), depends=depends)
