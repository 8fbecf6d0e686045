"""What every benchmark shares: figures, timing against a baseline, the machine, a local hub, test data."""
from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Figure:
    """One measured figure next to its baseline, measured in the same run.

    ``ratio`` is always "how many times as fast as the baseline" (baseline time / tool time, or tool
    throughput / baseline throughput): 0.9 means 10% slower, 2.0 twice as fast."""

    benchmark: str
    name: str
    unit: str
    value: float
    baseline_name: str | None = None
    baseline: float | None = None
    ratio: float | None = None
    repetitions: int = 1
    sizes: dict = field(default_factory=dict)
    target: str | None = None
    target_met: bool | None = None
    missed_by: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, [])}


def time_ratio(value_s: float, baseline_s: float) -> float:
    return round(baseline_s / value_s, 3) if value_s > 0 else float("inf")


def alternate(tool: Callable[[int], float | None], baseline: Callable[[int], float | None], reps: int,
              setup: Callable[[int], None] | None = None) -> tuple[float, float, list[float], list[float]]:
    """Run tool and baseline alternately ``reps`` times each (baseline first on odd repetitions, so neither
    always gets the warmer machine); each call returns its own seconds or None to be timed here.
    Returns (median tool s, median baseline s, all tool s, all baseline s)."""
    ours: list[float] = []
    theirs: list[float] = []

    def timed(fn: Callable[[int], float | None], i: int) -> float:
        t0 = time.perf_counter()
        got = fn(i)
        return got if isinstance(got, float) else time.perf_counter() - t0

    for i in range(reps):
        if setup:
            setup(i)
        order = [(ours, tool), (theirs, baseline)] if i % 2 == 0 else [(theirs, baseline), (ours, tool)]
        for out, fn in order:
            out.append(timed(fn, i))
    return statistics.median(ours), statistics.median(theirs), ours, theirs


def machine() -> dict:
    import platform

    import psutil

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1), "cpu": cpu,
            "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


# -- data ------------------------------------------------------------------------------------------
def _sentence_pool(n: int = 4000, seed: int = 0) -> list[str]:
    from hub_tools.samples.tiny_models import sample_sentences

    words = sorted({w.strip(".,?!") for s in sample_sentences() for w in s.split()})
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(8, 20))).capitalize() + "." for _ in range(n)]


def write_corpus_shard(path: Path, rows: int, seed: int, row_chars: int = 1000, compression: str = "snappy") -> int:
    """A parquet shard of distinct Basque-looking documents of ~``row_chars`` characters; returns its bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pool = _sentence_pool()
    per_doc = max(1, row_chars // 110)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(pool), size=(rows, per_doc)).tolist()
    texts = [" ".join(pool[j] for j in row) + f" ({seed}-{i})" for i, row in enumerate(picks)]
    table = pa.table({"id": [f"{seed}-{i}" for i in range(rows)], "text": texts, "source": ["benchmark"] * rows})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression=compression)
    return path.stat().st_size


def write_provenance(folder: Path, name: str, language: list[str] | None = None) -> None:
    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance as write

    write(folder, Provenance.create(kind="corpus", name=name, language=["eu"] if language is None else language,
                                    recipe=RecipeInfo(name="benchmark", version="1")))


def age(folder: Path, seconds: float = 120) -> None:
    """Date files back, as a folder a recipe wrote a while ago (not the instant before it is pushed)."""
    past = time.time() - seconds
    for p in Path(folder).rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def quiet() -> None:
    """No progress bars from the Hugging Face libraries in the benchmark output."""
    import datasets
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


# -- a local hub -------------------------------------------------------------------------------------
TOKEN = "hf_benchmark_admin_0123456789"


@contextmanager
def local_hub(data_dir: Path) -> Iterator[str]:
    """A local hub on a free port (its write counters readable), every client of this process bound to it."""
    from hub_tools.hub.endpoint import bind_endpoint
    from hub_tools.localhub import server

    os.environ.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_XET="1")
    quiet()
    hub = server.start_background(data_dir, port=0, extra_args=["--token", TOKEN, "--enable-fault-injection"])
    try:
        bind_endpoint(hub.url, TOKEN)
        yield hub.url
    finally:
        server.stop_hub(data_dir)


def hub_counters(url: str) -> dict[str, int]:
    """Bytes and uploads the hub received since it started (its test hook; no fault rules are set)."""
    import httpx

    return httpx.get(f"{url}/api/_localhub/stats", trust_env=False, timeout=30).json()
