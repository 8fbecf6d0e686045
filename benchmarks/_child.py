"""Measurements that need a process of their own (peak memory): ``python -m benchmarks._child WHAT FOLDER``.

Prints one JSON object: seconds (the work only, not interpreter start-up or imports), rows, peak RSS.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchmarks._common import peak_rss_mib


def pyarrow_scan(folder: Path) -> int:
    """The baseline: read the text column of every shard in batches and touch every string."""
    import pyarrow.parquet as pq

    rows = chars = 0
    for f in sorted((folder / "data").rglob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1000, columns=["text"]):
            rows += batch.num_rows
            chars += sum(len(t) for t in batch.column(0).to_pylist())
    return rows


def validate(folder: Path) -> int:
    from hub_tools.validate import validate_artifact

    report = validate_artifact(folder)
    if not report.ok():
        raise SystemExit(f"validation failed: {[f.to_dict() for f in report.errors()][:3]}")
    return report.statistics[folder.name]["rows_total"]


def main() -> None:
    what, folder = sys.argv[1], Path(sys.argv[2])
    import pyarrow.parquet  # noqa: F401  imports are not part of the measured work
    import hub_tools.validate  # noqa: F401

    t0 = time.perf_counter()
    rows = {"scan": pyarrow_scan, "validate": validate}[what](folder)
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows, "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
