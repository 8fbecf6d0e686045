"""`hubtool push` against `HfApi.upload_folder` to the same local hub, in this process.

The dataset folder: ``shards`` parquet shards plus one large shard (the issue's 1.13 GB folder is 200
shards and a 100 MB file). Every timed first push goes to a hub of its own (the local hub stores a
content once per reader, so a second push of the same bytes would upload nothing); hubtool starts from an
empty cache (a fresh HUBTOOL_HOME) for first pushes, as on a machine that never saw the data, and keeps it
for re-pushes, as a user would. Figures:

- first push (from an empty cache: hashes and validates every row);
- first push of a folder `hubtool validate` already checked (the usual order; validation untimed);
- no-change re-push (and the bytes the hub received: 0 is the target for both);
- one changed shard (a rewritten 5 MB-class shard, same name);
- 1,000 files of 1 KB: first push and no-change re-push (target for hubtool's re-push: < 5 s).

hubtool's push validates every data file and renders the card, which upload_folder does not; that
work is part of its time.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from benchmarks._common import (Figure, age, alternate, hub_counters, local_hub, time_ratio, write_corpus_shard,
                                write_provenance)


RACY_S = 2.5  # hubtool.artifacts.filehash trusts a hash only for files older than 2 s when hashed


def generate(folder: Path, shards: int, shard_rows: int, big_rows: int) -> int:
    total = 0
    n = shards + 1
    for s in range(shards):
        total += write_corpus_shard(folder / "data" / f"train-{s:05d}-of-{n:05d}.parquet", shard_rows, seed=10_000 + s)
    total += write_corpus_shard(folder / "data" / f"train-{shards:05d}-of-{n:05d}.parquet", big_rows, seed=99_999)
    write_provenance(folder, "push-bench")
    age(folder)
    return total + (folder / "hubtool.json").stat().st_size


def small_files(folder: Path, n: int) -> int:
    """A model-like folder of ``n`` 1 KB files (hubtool pushes it as a Space: no row validation to do)."""
    import random

    rng = random.Random(0)
    for i in range(n):
        p = folder / "assets" / f"{i // 100:02d}" / f"file-{i:04d}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(rng.choices("abcdefghijklmnopqrstuvwxyz \n", k=1024)))
    (folder / "app.py").write_text("import gradio as gr\n\ngr.Interface(lambda x: x, 'text', 'text').launch()\n")
    (folder / "requirements.txt").write_text("gradio==6.31.0\n")
    from hub_tools.artifacts.provenance import Provenance, RecipeInfo, write_provenance as write

    write(folder, Provenance.create(kind="space", name="small-files", language=["eu"],
                                    recipe=RecipeInfo(name="benchmark", version="1"),
                                    card={"title": "small files", "sdk": "gradio", "license": "apache-2.0"}))
    age(folder)
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _hubtool_push(folder: Path, repo: str):
    from hub_tools.cli.publish import push_artifact

    return push_artifact(folder, repo, "main", False, None, "apache-2.0", None)


def _upload_folder(folder: Path, repo: str, repo_type: str) -> None:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, repo_type=repo_type, exist_ok=True, **({"space_sdk": "gradio"} if repo_type == "space" else {}))
    api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type=repo_type)


def run(size: dict, work: Path) -> list[Figure]:
    reps = size["reps"]
    folder = work / "push-dataset"
    data_bytes = generate(folder, size["push_shards"], size["push_shard_rows"], size["push_big_rows"])
    many = work / "small-files"
    many_bytes = small_files(many, size["small_files"])
    shard_bytes = (folder / "data" / f"train-00001-of-{size['push_shards'] + 1:05d}.parquet").stat().st_size
    sizes = {"files": size["push_shards"] + 2, "bytes": data_bytes, "shards": size["push_shards"],
             "shard_rows": size["push_shard_rows"], "big_shard_rows": size["push_big_rows"]}
    figures: list[Figure] = []
    old_home = os.environ.get("HUBTOOL_HOME")
    received: dict[str, list[int]] = {"ours": [], "theirs": []}

    def on_fresh_hub(tag: str, push, key: str | None = None):
        """A timed push to a hub of its own: the local hub stores content once per reader, so a push after
        another push of the same bytes would upload nothing and be unfairly fast. Start-up is not timed."""
        def run_once(i: int) -> float:
            with local_hub(work / f"hub-{tag}-{i}") as url:
                t0 = time.perf_counter()
                push(i)
                seconds = time.perf_counter() - t0
                if key:
                    c = hub_counters(url)
                    received[key].append(c["lfs_bytes"] + c["regular_bytes"])
            shutil.rmtree(work / f"hub-{tag}-{i}", ignore_errors=True)
            return seconds
        return run_once

    def cold_home(tag: str):
        def set_home(i: int) -> None:
            os.environ["HUBTOOL_HOME"] = str(work / f"home-{tag}-{i}")  # a cold cache: never saw this data
        return set_home

    # -- first pushes: each on a fresh hub ---------------------------------------------------------
    o, t, _, _ = alternate(on_fresh_hub("first-ours", lambda i: _hubtool_push(folder, "bench/push"), "ours"),
                           on_fresh_hub("first-theirs", lambda i: _upload_folder(folder, "bench/push", "dataset"),
                                        "theirs"), reps, setup=cold_home("first"))
    f = _fig("first push", o, t, reps, sizes, ">= 0.9x", lambda r: r >= 0.9)
    f.extra.update(bytes_received_ours=min(received["ours"]), bytes_received_upload_folder=min(received["theirs"]))
    figures.append(f)

    def validated(i: int) -> None:  # the usual order: `hubtool validate` (not timed), then push
        from hub_tools.validate import validate_artifact

        cold_home("validated")(i)
        assert validate_artifact(folder).ok()

    o, t, _, _ = alternate(on_fresh_hub("validated-ours", lambda i: _hubtool_push(folder, "bench/push")),
                           on_fresh_hub("validated-theirs", lambda i: _upload_folder(folder, "bench/push", "dataset")),
                           reps, setup=validated)
    figures.append(_fig("first push after hubtool validate", o, t, reps, sizes, ">= 0.9x", lambda r: r >= 0.9))

    small_sizes = {"files": size["small_files"], "bytes": many_bytes}
    o, t, _, _ = alternate(on_fresh_hub("small-ours", lambda i: _hubtool_push(many, "bench/small")),
                           on_fresh_hub("small-theirs", lambda i: _upload_folder(many, "bench/small", "space")), reps,
                           setup=cold_home("small"))
    figures.append(_fig(f"{size['small_files']:,} small files: first push", o, t, reps, small_sizes, None, None))

    # -- re-pushes: one hub, each tool with its own repos (pushed once, not timed) -------------------
    os.environ["HUBTOOL_HOME"] = str(work / "home-repush")
    with local_hub(work / "hub") as url:
        for i in range(reps):
            _hubtool_push(folder, f"bench/ours-{i}")
            _upload_folder(folder, f"bench/theirs-{i}", "dataset")
            _hubtool_push(many, f"bench/small-ours-{i}")
            _upload_folder(many, f"bench/small-theirs-{i}", "space")
        time.sleep(RACY_S)  # files hashed in the same instant they were written are hashed again: not here

        def counted(fn, key: str):
            def run_once(i: int) -> float:
                before = hub_counters(url)
                t0 = time.perf_counter()
                fn(i)
                seconds = time.perf_counter() - t0
                after = hub_counters(url)
                received[key].append(after["lfs_bytes"] + after["regular_bytes"] - before["lfs_bytes"]
                                     - before["regular_bytes"])
                return seconds
            return run_once

        received = {"ours": [], "theirs": []}
        o, t, _, _ = alternate(counted(lambda i: _hubtool_push(folder, f"bench/ours-{i}"), "ours"),
                               counted(lambda i: _upload_folder(folder, f"bench/theirs-{i}", "dataset"), "theirs"),
                               reps)
        f = _fig("no-change re-push", o, t, reps, sizes, ">= 1.0x and 0 bytes",
                 lambda r: r >= 1.0 and max(received["ours"]) == 0)
        f.extra.update(bytes_received_ours=max(received["ours"]), bytes_received_upload_folder=max(received["theirs"]))
        figures.append(f)

        changed = folder / "data" / f"train-00001-of-{size['push_shards'] + 1:05d}.parquet"

        def changed_then(push, seed: int):
            """Rewrite one shard (same name, new rows; untimed, dated back), then time the push of the folder.
            Each tool gets content of its own, so neither finds the new shard already stored."""
            def run_once(i: int) -> float:
                write_corpus_shard(changed, size["push_shard_rows"], seed=seed + i)
                past = time.time() - 60
                os.utime(changed, (past, past))
                t0 = time.perf_counter()
                push(i)
                return time.perf_counter() - t0
            return run_once

        o, t, _, _ = alternate(changed_then(lambda i: _hubtool_push(folder, f"bench/ours-{i}"), 50_000),
                               changed_then(lambda i: _upload_folder(folder, f"bench/theirs-{i}", "dataset"), 60_000),
                               reps)
        figures.append(_fig("one changed shard", o, t, reps, {**sizes, "changed_bytes": shard_bytes}, None, None))

        o, t, _, _ = alternate(lambda i: _hubtool_push(many, f"bench/small-ours-{i}"),
                               lambda i: _upload_folder(many, f"bench/small-theirs-{i}", "space"), reps)
        figures.append(_fig(f"{size['small_files']:,} small files: no-change re-push", o, t, reps, small_sizes,
                            "< 5 s", lambda r: o < 5))
    if old_home is None:
        os.environ.pop("HUBTOOL_HOME", None)
    else:
        os.environ["HUBTOOL_HOME"] = old_home
    shutil.rmtree(work / "hub", ignore_errors=True)
    return figures


def _fig(name: str, ours: float, theirs: float, reps: int, sizes: dict, target: str | None, check) -> Figure:
    ratio = time_ratio(ours, theirs)
    met = check(ratio) if check else None
    missed = None
    if met is False:
        missed = f"{ratio:.2f}x of the baseline" + (f" ({ours:.2f} s)" if "s" in (target or "") else "")
    return Figure("publish", name, "s", round(ours, 3), "HfApi.upload_folder", round(theirs, 3), ratio, reps, sizes,
                  target, met, missed)
