"""Training config (YAML) and its expansion into variants named ``exp_{B}_{C}{Ie}{Ien}``.

B is the backbone code (0 base-EN, 1 base-EU, 2 instruct-EN, as in the Latxa-Instruct study); C, Ie
and Ien say whether the target-language corpus, target-language instructions and English
instructions are in the mix. One grid file expands to every variant.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config_io import ConfigError, load_yaml_config
from ..config_io import StrictModel as _Strict

DATA_KEYS = ("corpus", "instructions_target", "instructions_en")


class DataSource(_Strict):
    """One source of a data slot. A slot takes one source or a list of them, each with its weight."""

    path: str | None = Field(None, description="Artifact folder, data file or folder (parquet/jsonl).")
    hub: str | None = Field(None, description="Or a Hub dataset repo id.")
    revision: str | None = None
    split: str = Field("train", description="The split read (of an artifact folder's data/ layout or a Hub repo).")
    weight: float = Field(1.0, gt=0, description="Mixing weight: this source's rows are repeated (> 1) or "
                                                 "subsampled (< 1) by it, independently of the other sources.")
    limit: int | None = Field(None, ge=1, description="Use only the first N rows (CPU profiles).")
    name: str | None = Field(None, description="Name in the lineage (default: the path or Hub id).")
    hub_id: str | None = Field(None, description="For a local `path`: the Hub dataset it is published as, "
                                                 "recorded in the lineage with `revision`.")

    @model_validator(mode="after")
    def _one_location(self) -> "DataSource":
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` or `hub`")
        return self

    @property
    def label(self) -> str:
        return self.name or self.hub or self.path or "?"


class LoraSettings(_Strict):
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"])
    qlora: bool = Field(False, description="4-bit base (bitsandbytes, GPU only).")


class TrainingSettings(_Strict):
    num_train_epochs: float = 1
    max_steps: int = -1
    learning_rate: float = 1e-5
    lr_scheduler_type: str = "cosine_with_min_lr"
    lr_scheduler_kwargs: dict = Field(default_factory=lambda: {"min_lr_rate": 0.33})
    warmup_ratio: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 0.1
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_length: int = 8192
    packing: bool = True
    neftune_noise_alpha: float | None = None
    seed: int = 33
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    bf16: bool = False
    gradient_checkpointing: bool = False


class TrainConfig(_Strict):
    name: str
    base_model: str = Field(description="Backbone folder or Hub id.")
    base_model_id: str | None = Field(None, description="Hub id written into adapter_config.json "
                                                        "(required when base_model is a local folder).")
    base_model_revision: str | None = None
    backbone_code: int = Field(2, ge=0, le=9, description="B in exp_{B}_{C}{Ie}{Ien}.")
    chat_template: str | None = Field(None, description="A Jinja template (or a file path); default: the backbone's.")
    mode: Literal["lora", "full"] = "lora"
    data: dict[Literal["corpus", "instructions_target", "instructions_en"], list[DataSource]] = Field(
        description="Per slot, one source or a list of sources (each with its `weight`).")
    grid: dict[Literal["corpus", "instructions_target", "instructions_en"], list[Literal[0, 1]]] = Field(
        default_factory=dict, description="Which data to include per variant; absent keys mean 1 if data is set.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    merge: bool = Field(False, description="Also write the adapter merged into a full model.")
    output_dir: str = "out/train"
    language: str = "eu"

    _base: Path = Path(".")

    @field_validator("data", mode="before")
    @classmethod
    def _listify(cls, value):
        """A slot given as one source is a list of one."""
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    def sources(self) -> list[DataSource]:
        """Every data source of every slot."""
        return [src for slot in self.data.values() for src in slot]

    def resolve(self, path: str) -> str:
        p = Path(path).expanduser()
        if p.is_absolute():
            return str(p)
        candidate = (self._base / p).resolve()
        return str(candidate) if candidate.exists() or path.startswith(".") else path  # else a Hub id


@dataclass(frozen=True)
class Variant:
    name: str
    use: dict[str, int]  # data key -> 0/1


def expand_variants(cfg: TrainConfig) -> list[Variant]:
    axes = [cfg.grid.get(k, [1] if k in cfg.data else [0]) for k in DATA_KEYS]
    out = []
    for combo in itertools.product(*axes):
        use = dict(zip(DATA_KEYS, combo))
        if not any(use.values()):
            continue
        missing = [k for k, on in use.items() if on and k not in cfg.data]
        if missing:
            raise ValueError(f"grid uses {', '.join(missing)} but `data` does not define it")
        out.append(Variant(f"exp_{cfg.backbone_code}_{''.join(str(use[k]) for k in DATA_KEYS)}", use))
    return out


TrainConfigError = ConfigError  # the name the train CLI catches


def load_train_config(path: str | Path) -> TrainConfig:
    return load_yaml_config(path, TrainConfig)
