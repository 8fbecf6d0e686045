"""Train the toy base model: a tokenizer learned from the corpus's train split, a tiny Llama, a few hundred
optimizer steps of next-token prediction on the same text (seeded, single process: a rerun is identical).

    python -m recipes.tinybase.run CONFIG      # or through `hubtool build` (recipe: tiny-base)
"""
from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field

from ..config_io import StrictModel, load_yaml_config

RECIPE_VERSION = "1.0"
STAND_IN = ("A toy stand-in for a real backbone: a {layers}-layer Llama ({parameters:,} parameters) trained for "
            "{steps} steps on {tokens:,} tokens of the corpus, so that the whole pipeline runs on a laptop CPU. "
            "Its text is not meaningful Basque; use a real backbone (e.g. Llama 3.1) for anything but a rehearsal.")


class TinyBaseConfig(StrictModel):
    name: str = "tiny-llama-eu"
    language: str = "eu"
    corpus: str | None = Field(None, description="Corpus artifact folder; its `split` is the training text "
                                                 "(default: the bundled sample sentences).")
    split: str = "train"
    vocab_size: int = Field(512, ge=300)
    hidden_size: int = Field(32, ge=8)
    layers: int = Field(2, ge=1)
    steps: int = Field(60, ge=0, description="Optimizer steps (0: random weights).")
    batch_size: int = Field(8, ge=1)
    seq_len: int = Field(64, ge=8)
    learning_rate: float = Field(3e-3, gt=0)
    seed: int = 0
    output: str = "out/tiny-base"

    _base: Path = Path(".")

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base / p).resolve()


def corpus_texts(folder: Path, split: str) -> tuple[list[str], list[Path]]:
    import pyarrow.parquet as pq

    from hub_tools.artifacts.datalayout import discover_layout

    layout = discover_layout(folder)
    files = [folder / f for config in layout.configs.values() for f in config.get(split, [])]
    if not files:
        raise ValueError(f"{folder}: no `{split}` split in its data/ layout")
    texts = [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]
    return texts, files


def train_tiny_base(cfg: TinyBaseConfig, output: Path | None = None) -> dict:
    """Write the model folder (weights, tokenizer with chat template, hubtool.json); returns its statistics."""
    import torch

    from hub_tools.artifacts.provenance import InputFingerprint, Provenance, RecipeInfo, file_sha256, write_provenance
    from hub_tools.samples.tiny_models import build_llama, build_tokenizer, training_lines

    output = output or cfg.resolve(cfg.output)
    prov = Provenance.create(kind="model", name=cfg.name, language=[cfg.language],
                             recipe=RecipeInfo(name="tiny-base", version=RECIPE_VERSION),
                             config=cfg.model_dump(mode="json"), seed=cfg.seed)
    if cfg.corpus:
        texts, files = corpus_texts(cfg.resolve(cfg.corpus), cfg.split)
        import hashlib

        h = hashlib.sha256()
        for f in files:
            h.update(f.name.encode() + b"\0" + file_sha256(f).encode() + b"\n")
        prov.inputs.append(InputFingerprint(name="corpus", ref=cfg.corpus, sha256=h.hexdigest(), rows=len(texts)))
    else:
        texts = training_lines()
    tokenizer = build_tokenizer(cfg.vocab_size, lines=texts)
    model = build_llama(tokenizer, seed=cfg.seed, hidden_size=cfg.hidden_size, layers=cfg.layers)
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    data = torch.tensor(stream[: len(stream) // cfg.seq_len * cfg.seq_len]).view(-1, cfg.seq_len)
    losses: list[float] = []
    if cfg.steps and len(data):
        gen = torch.Generator().manual_seed(cfg.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
        model.train()
        for _ in range(cfg.steps):
            batch = data[torch.randint(len(data), (cfg.batch_size,), generator=gen)]
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(round(float(loss.detach()), 4))
        model.eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    parameters = sum(p.numel() for p in model.parameters())
    prov.statistics = {"parameters": parameters, "vocab_size": len(tokenizer), "documents": len(texts),
                       "tokens": len(stream), "sequences": len(data), "steps": len(losses),
                       "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
                       "losses": losses}
    prov.card = {"description": STAND_IN.format(layers=cfg.layers, parameters=parameters, steps=len(losses),
                                                tokens=len(stream)),
                 "tags": ["toy-model", "stand-in", "hubtool"]}
    prov.finish()
    write_provenance(output, prov)
    return prov.statistics


def load_config(path: str | Path) -> TinyBaseConfig:
    return load_yaml_config(path, TinyBaseConfig)


if __name__ == "__main__":
    print(train_tiny_base(load_config(sys.argv[1])))
