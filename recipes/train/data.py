"""Training data: read the sources, tokenize them, and mix them by weight.

A slot (corpus, target-language instructions, English instructions) takes a list of sources, e.g.
Magpie and backtranslated instructions side by side; each source's rows are repeated or subsampled by
its own weight, then everything is shuffled together (seeded).

Completion data (corpus ``text``) trains on every token (continued pre-training); chat data
(``messages``, or the ShareGPT ``conversations`` the reference datasets use) trains on assistant
turns only. Each example carries ``input_ids`` and ``assistant_masks`` (1 = contributes to the loss),
which TRL's SFTTrainer turns into labels, then packs.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .config import DataSource, TrainConfig

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


def read_rows(cfg: TrainConfig, src: DataSource) -> tuple[list[dict], list[str]]:
    """Rows of a source and the files read (for fingerprints)."""
    import datasets

    if src.hub:
        ds = datasets.load_dataset(src.hub, split=src.split, revision=src.revision)
        rows = ds.to_list()
        return (rows[: src.limit] if src.limit else rows), [f"hf://datasets/{src.hub}@{src.revision or 'main'}"]
    path = Path(cfg.resolve(src.path))
    if path.is_dir():
        from hub_tools.artifacts.datalayout import discover_layout

        layout = discover_layout(path)
        files = [str(path / f) for config in layout.configs.values() for f in config.get(src.split, [])]
        if not files:
            raise ValueError(f"{src.path}: no `{src.split}` split in its data/ layout")
    else:
        files = [str(path)]
    builder = "parquet" if files[0].endswith(".parquet") else "json"
    rows = datasets.load_dataset(builder, data_files=files, split="train").to_list()
    return (rows[: src.limit] if src.limit else rows), files


def files_sha256(files: list[str]) -> str:
    """One fingerprint of a source's files: names and contents."""
    import hashlib

    from hub_tools.artifacts.provenance import file_sha256

    h = hashlib.sha256()
    for f in sorted(files):
        h.update(Path(f).name.encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return h.hexdigest()


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


@dataclass
class SourceUse:
    """One source of the mix: where it came from (never an absolute path) and how much of it was used."""

    slot: str
    source: DataSource
    files: list[str]
    rows: int
    used: int

    def fingerprint(self):
        from hub_tools.artifacts.provenance import InputFingerprint

        src = self.source
        local = not src.hub
        return InputFingerprint(name=f"data:{self.slot}" + (f":{src.name}" if src.name else ""), ref=src.hub_id or src.hub or src.path,
                                revision=src.revision, sha256=files_sha256(self.files) if local else None,
                                rows=self.rows)


@dataclass
class MixedData:
    examples: list[dict]
    counts: dict[str, dict]  # slot -> rows read, rows used, and the same per source with its weight
    files: dict[str, list[str]]
    sources: list[SourceUse]

    def input_fingerprints(self) -> list:
        """What went in, for hubtool.json's ``inputs``: one entry per source."""
        return [s.fingerprint() for s in self.sources]


def _encode(tokenizer, rows: list[dict], where: str) -> list[dict]:
    encoded = []
    for i, row in enumerate(rows):
        messages = to_messages(row)
        if messages is not None:
            encoded.append(encode_chat(tokenizer, messages))
        elif isinstance(row.get("text"), str):
            encoded.append(encode_text(tokenizer, row["text"]))
        else:
            raise ValueError(f"{where} row {i}: expected `text`, `messages` or `conversations`")
    return encoded


def weighted_order(n: int, weight: float, rng: random.Random) -> list[int]:
    """round(weight * n) row indices: whole seeded permutations repeated for weights > 1, cut for < 1."""
    target = max(1, round(weight * n))
    order: list[int] = []
    while len(order) < target:
        block = list(range(n))
        rng.shuffle(block)
        order += block
    return order[:target]


def build_mixture(cfg: TrainConfig, use: dict[str, int], tokenizer) -> MixedData:
    rng = random.Random(cfg.training.seed)
    examples: list[dict] = []
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
            encoded = _encode(tokenizer, rows, f"{key} ({src.label})")
            if not encoded:
                raise ValueError(f"{key} ({src.label}): no rows")
            order = weighted_order(len(encoded), src.weight, rng)
            examples += [{**encoded[j], "source": key} for j in order]
            sources.append(SourceUse(key, src, read, len(encoded), len(order)))
            slot["rows"] += len(encoded)
            slot["used"] += len(order)
            slot["sources"].append({"name": src.label, "rows": len(encoded), "used": len(order), "weight": src.weight})
        counts[key] = slot
    rng.shuffle(examples)
    return MixedData(examples, counts, files, sources)
