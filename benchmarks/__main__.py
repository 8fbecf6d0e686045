"""Every hubtool benchmark in one run: ``python -m benchmarks [--quick] [--only NAME ...] [--out FILE]``.

Each benchmark generates its own data at the chosen size, measures hubtool and a baseline in the same
run (alternating, medians), and returns figures; the runner writes one JSON results file (figures,
sizes, repetitions, the machine, the command) and prints a table. ``--quick`` is small enough for CI
(every figure, well under two minutes); the default full size is what the README quotes.

    python -m benchmarks                       # full sizes -> benchmarks/results/benchmarks.json
    python -m benchmarks --quick --out /tmp/quick.json
    python -m benchmarks --only validate --only publish
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from benchmarks._common import ROOT, Figure, machine


def _validate(size, work):
    from benchmarks import validate_corpus
    return validate_corpus.run(size, work)


def _publish(size, work):
    from benchmarks import publish
    return publish.run(size, work)


def _readback(size, work):
    from benchmarks import readback
    return readback.run(size, work)


def _corpus(size, work):
    from benchmarks import external
    return external.corpus(size, work)


def _arena(size, work):
    from benchmarks import external
    return external.arena(size, work)


def _chat(size, work):
    from benchmarks import chat
    return chat.run(size, work)


REGISTRY: dict[str, Callable[[dict, Path], list[Figure]]] = {
    "validate": _validate, "publish": _publish, "readback": _readback, "corpus": _corpus, "arena": _arena,
    "chat": _chat,
}
# The figures every complete run must have (tests/test_benchmarks.py checks the quick run against it).
EXPECTED = {
    "validate": ["validate rows/s", "validate peak RSS"],
    "publish": ["first push", "first push after hubtool validate", "no-change re-push", "one changed shard", "small files: first push",
                "small files: no-change re-push"],
    "readback": ["load_dataset from the local hub", "snapshot_download from the local hub"],
    "corpus": ["corpus recipe MB/s per worker"],
    "arena": ["arena vote latency p50", "arena vote latency p99", "arena vote latency p99 at saturation",
              "arena votes/s at saturation"],
    "chat": ["chat time to first token", "chat tokens/s"],
}
SIZES = {
    "quick": {"reps": 1, "validate_mb": 20, "push_shards": 4, "push_shard_rows": 1500, "push_big_rows": 6000,
              "small_files": 100, "read_shards": 2, "read_shard_rows": 2000, "corpus_mb": 2, "corpus_workers": [1],
              "arena_voters": 10, "arena_votes": 30, "arena_reading_s": [0.5, 1.0], "arena_ramp_s": 1.0,
              "chat_hidden": 32, "chat_layers": 2, "chat_tokens": 16, "chat_reps": 2},
    "full": {"reps": 3, "validate_mb": 2000, "push_shards": 200, "push_shard_rows": 11_000, "push_big_rows": 230_000,
             "small_files": 1000, "read_shards": 10, "read_shard_rows": 10_000, "corpus_mb": 200,
             "corpus_workers": [1, 2], "arena_voters": 50, "arena_votes": 1000, "arena_reading_s": [2.0, 4.0],
             "arena_ramp_s": 4.0, "chat_hidden": 256, "chat_layers": 4, "chat_tokens": 64, "chat_reps": 5},
}
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "benchmarks.json"


def _reason(err: BaseException) -> str:
    """What failed, for the results file: the error and its last lines, without this machine's paths."""
    text = f"{type(err).__name__}: {err}".replace(str(ROOT) + "/", "").replace(sys.executable, "python")
    return "\n".join(text.splitlines()[-6:])[-1500:]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


def _table(figures: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hubtool benchmarks (ratio: times as fast as the baseline)")
    for col in ("benchmark", "figure", "hubtool", "baseline", "ratio", "target"):
        table.add_column(col, overflow="fold")
    for f in figures:
        target = f.get("target", "")
        if "target_met" in f:
            target += " ok" if f["target_met"] else f" MISSED: {f.get('missed_by', '')}"
        table.add_row(f["benchmark"], f["name"], f"{_num(f['value'])} {f['unit']}",
                      f"{_num(f['baseline'])} ({f['baseline_name']})" if "baseline" in f else "-",
                      f"{f['ratio']:.2f}x" if "ratio" in f else "-", target)
    Console(width=160).print(table)


def readme_section(results: dict) -> str:
    """The README's "Performance" table, from a results file (so the README quotes only measured ratios)."""
    by_name = {f["name"]: f for f in results["figures"]}
    lines = []
    if "first push" in by_name and "validate rows/s" in by_name:
        push, val = by_name["first push"]["sizes"], by_name["validate rows/s"]["sizes"]
        lines += [f"Sizes: {push['bytes'] / 1e9:.2f} GB in {push['files']} files to push; a {val['parquet_bytes'] / 1e9:.2f}"
                  f" GB corpus of {val['rows']:,} rows to validate.", ""]
    lines += ["| figure | hubtool | baseline | ratio | target |", "|---|---:|---|---:|---|"]
    for f in results["figures"]:
        target = f.get("target", "")
        if "target_met" in f:
            target += " (met)" if f["target_met"] else f" (missed: {f.get('missed_by', '')})"
        base = f"{_num(f['baseline'])} {f['unit']} ({f['baseline_name']})" if "baseline" in f else "-"
        ratio = f"{f['ratio']:.2f}x" if "ratio" in f else "-"
        lines.append(f"| {f['name']} | {_num(f['value'])} {f['unit']} | {base} | {ratio} | {target} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI size: every figure on small data.")
    ap.add_argument("--only", action="append", choices=sorted(REGISTRY), help="Run only this benchmark (repeatable).")
    ap.add_argument("--out", type=Path, default=None, help=f"Results JSON (default {DEFAULT_OUT.relative_to(ROOT)} "
                                                           "for full runs; required with --quick).")
    ap.add_argument("--workdir", type=Path, default=None, help="Where generated data goes (default: a temp folder).")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="Override one size (a JSON value), e.g. --set corpus_mb=20; stored with the results.")
    ap.add_argument("--update", action="store_true",
                    help="Keep the other benchmarks' figures already in --out; replace only those run now.")
    ap.add_argument("--note", default="", help="A note stored with the results (e.g. what else ran on the machine).")
    ap.add_argument("--readme", action="store_true", help="Print the README table of the results in --out; run nothing.")
    args = ap.parse_args(argv)
    if args.readme:
        print(readme_section(json.loads((args.out or DEFAULT_OUT).read_text())), end="")
        return 0
    size_name = "quick" if args.quick else "full"
    size = dict(SIZES[size_name])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in size:
            ap.error(f"--set {key}: not a size (sizes: {', '.join(sorted(size))})")
        size[key] = json.loads(value)
    if args.quick and args.out is None:
        ap.error("--quick needs --out: quick figures must not replace the committed full-size results")
    out = args.out or DEFAULT_OUT
    names = args.only or list(REGISTRY)
    started = time.time()
    results = {"command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
               "size": size_name, "sizes": size,
               "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
               "note": args.note, "figures": [], "failed": {}}
    work = Path(tempfile.mkdtemp(prefix="hubtool-bench-", dir=args.workdir))
    try:
        for name in names:
            t0 = time.time()
            print(f"[{name}] running ({size_name})", file=sys.stderr, flush=True)
            (work / name).mkdir(parents=True)
            try:
                figures = REGISTRY[name](size, work / name)
            except Exception as err:  # one broken benchmark must not hide the others' figures
                print(traceback.format_exc(), file=sys.stderr)
                results["failed"][name] = _reason(err)
                continue
            results["figures"] += [f.to_dict() for f in figures]
            print(f"[{name}] done in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = round(time.time() - started, 1)
    if args.update and out.is_file():  # one file for every figure, benchmarks run at different times
        old = json.loads(out.read_text())
        ran = set(names)
        results["figures"] = [f for f in old["figures"] if f["benchmark"] not in ran] + results["figures"]
        results["runs"] = old.get("runs", [{k: old[k] for k in ("command", "started", "machine", "note", "wall_s")
                                            if k in old} | {"benchmarks": sorted({f["benchmark"] for f in
                                                                                 old["figures"]})}])
        results["runs"].append({k: results[k] for k in ("command", "started", "machine", "note", "wall_s", "sizes")}
                               | {"benchmarks": sorted(ran)})
        results["failed"] = {**{k: v for k, v in old.get("failed", {}).items() if k not in ran}, **results["failed"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _table(results["figures"])
    print(f"results: {out}", file=sys.stderr)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
