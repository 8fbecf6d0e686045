"""Training data: read the sources, tokenize them once, and mix them by weight.

A slot (corpus, target-language instructions, English instructions) takes a list of sources, e.g.
Magpie and backtranslated instructions side by side; each source's rows are repeated or subsampled by
its own weight, then everything is shuffled together (seeded).

Completion data (corpus ``text``) trains on every token (continued pre-training); chat data
(``messages``, or the ShareGPT ``conversations`` the reference datasets use) trains on assistant
turns only. Each example carries ``input_ids`` and ``assistant_masks`` (1 = contributes to the loss),
which TRL's SFTTrainer turns into labels, then packs.

Everything stays in Arrow tables (memory-mapped from the datasets cache), never in Python lists:
tokenization is a ``datasets.map`` (``dataset_num_proc`` processes) whose result is cached by
fingerprint, so under ``accelerate launch`` the main process tokenizes and the other ranks read its
cache (run.py wraps this in ``main_process_first``); a re-run reads the cache too.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from hub_tools.text.localpaths import portable_path

from .config import DataSource, TrainConfig

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


def read_rows(cfg: TrainConfig, src: DataSource):
    """The rows of a source as a datasets.Dataset (Arrow, memory-mapped) and the files read (for fingerprints)."""
    import datasets

    if src.hub:
        ds = datasets.load_dataset(src.hub, split=src.split, revision=src.revision)
        files = [f"hf://datasets/{src.hub}@{src.revision or 'main'}"]
    else:
        path = Path(cfg.resolve(src.path))
        if path.is_dir():
            from hub_tools.artifacts.datalayout import discover_layout

            layout = discover_layout(path)
            files = [str(path / f) for config in layout.configs.values() for f in config.get(src.split, [])]
            if not files:
                raise ValueError(f"{path}: no `{src.split}` split in its data/ layout")
        else:
            files = [str(path)]
        builder = "parquet" if files[0].endswith(".parquet") else "json"
        ds = datasets.load_dataset(builder, data_files=files, split="train")
    if src.limit:
        ds = ds.select(range(min(src.limit, len(ds))))
    return ds, files


def to_messages(row: dict) -> list[dict] | None:
    if isinstance(row.get("messages"), list):
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if isinstance(row.get("conversations"), list):
        out = []
        for turn in row["conversations"]:
            role = SHAREGPT_ROLES.get(turn.get("from") or turn.get("role"))
            if role is None:
                raise ValueError(f"unknown speaker {turn.get('from')!r} in conversations")
            out.append({"role": role, "content": turn.get("value", turn.get("content"))})
        return out
    return None


def encode_text(tokenizer, text: str) -> dict:
    ids = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": ids, "assistant_masks": [1] * len(ids)}


def encode_chat(tokenizer, messages: list[dict]) -> dict:
    """Token ids of the whole conversation; mask = 1 exactly on the assistant turns' tokens (and their
    end-of-turn token), found by rendering the conversation prefix by prefix."""
    def render(msgs: list[dict], gen: bool) -> list[int]:
        return tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen, return_dict=True)["input_ids"]

    ids = render(messages, False)
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start, end = len(render(messages[:i], True)), len(render(messages[: i + 1], False))
        if render(messages[: i + 1], False) != ids[:end]:
            raise ValueError("the chat template is not prefix-stable, so assistant tokens cannot be located; "
                             "set `chat_template` in the config")
        mask[start:end] = [1] * (end - start)
    return {"input_ids": ids, "assistant_masks": mask}


def encode_row(row: dict, index: int, tokenizer, key: str) -> dict:
    messages = to_messages(row)
    if messages is not None:
        return encode_chat(tokenizer, messages)
    if isinstance(row.get("text"), str):
        return encode_text(tokenizer, row["text"])
    raise ValueError(f"{key} row {index}: expected `text`, `messages` or `conversations`")


def tokenize_source(ds, tokenizer, key: str, num_proc: int | None = None):
    """``input_ids`` + ``assistant_masks`` for every row, as a cached ``datasets.map``."""
    return ds.map(encode_row, with_indices=True, fn_kwargs={"tokenizer": tokenizer, "key": key},
                  remove_columns=ds.column_names, num_proc=num_proc if num_proc and num_proc > 1 else None,
                  desc=f"tokenize {key}")


@dataclass
class SourceUse:
    """One source of the mix: where it came from (never an absolute path) and how much of it was used."""

    slot: str
    source: DataSource
    files: list[str]
    rows: int
    used: int
    base: Path = Path(".")  # the config's folder: recorded paths are relative to it

    def fingerprint(self):
        from hub_tools.artifacts.provenance import InputFingerprint

        from .artifact import files_sha256

        src = self.source
        return InputFingerprint(name=f"data:{self.slot}" + (f":{src.name}" if src.name else ""),
                                ref=src.hub_id or src.hub or portable_path(src.path, self.base),
                                revision=src.revision,
                                sha256=None if src.hub else files_sha256(self.files), rows=self.rows)


@dataclass
class MixedData:
    examples: object  # datasets.Dataset: input_ids, assistant_masks, source
    counts: dict[str, dict]  # slot -> rows read, rows used, and the same per source with its weight
    files: dict[str, list[str]]
    sources: list[SourceUse]

    def input_fingerprints(self) -> list:
        """What went in, for hubtool.json's ``inputs``: one entry per source."""
        return [s.fingerprint() for s in self.sources]


def weighted_order(n: int, weight: float, rng: random.Random) -> list[int]:
    """round(weight * n) row indices: whole seeded permutations repeated for weights > 1, cut for < 1."""
    target = max(1, round(weight * n))
    order: list[int] = []
    while len(order) < target:
        block = list(range(n))
        rng.shuffle(block)
        order += block
    return order[:target]


def build_mixture(cfg: TrainConfig, use: dict[str, int], tokenizer, num_proc: int | None = None) -> MixedData:
    import datasets

    rng = random.Random(cfg.training.get("seed", 42))
    parts = []
    counts: dict[str, dict] = {}
    files: dict[str, list[str]] = {}
    sources: list[SourceUse] = []
    for key, on in use.items():
        if not on:
            continue
        slot = {"rows": 0, "used": 0, "sources": []}
        for src in cfg.data[key]:
            rows, read = read_rows(cfg, src)
            files.setdefault(key, []).extend(read)
            encoded = tokenize_source(rows, tokenizer, key, num_proc)
            if not len(encoded):
                raise ValueError(f"{key} ({src.label}): no rows")
            order = weighted_order(len(encoded), src.weight, rng)
            parts.append(encoded.select(order).add_column("source", [key] * len(order)))
            sources.append(SourceUse(key, src, read, len(encoded), len(order), cfg._base))
            slot["rows"] += len(encoded)
            slot["used"] += len(order)
            slot["sources"].append({"name": src.label, "rows": len(encoded), "used": len(order), "weight": src.weight})
        counts[key] = slot
    mixed = datasets.concatenate_datasets(parts).shuffle(seed=rng.randrange(2**32)).flatten_indices()
    return MixedData(mixed, counts, files, sources)
