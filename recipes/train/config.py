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
        """How the source is named in statistics and cards (an absolute path only by its last part)."""
        if self.name or self.hub:
            return self.name or self.hub
        return Path(self.path).name if self.path and Path(self.path).expanduser().is_absolute() else self.path or "?"


DEFAULT_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
# SFTConfig arguments the recipe sets itself (a value in `training:` would be overwritten, so it is refused).
RECIPE_OWNED = {"output_dir": "the recipe writes checkpoints beside the artifact (set `output_dir` at the top level)",
                "chat_template_path": "use the top-level `chat_template`",
                "dataset_text_field": "the recipe tokenizes the data itself",
                "assistant_only_loss": "the recipe masks non-assistant tokens itself (assistant_masks)",
                "completion_only_loss": "the recipe masks non-assistant tokens itself (assistant_masks)",
                "push_to_hub": "use `hub_checkpoints`", "hub_model_id": "use `hub_checkpoints.repo`",
                "hub_revision": "the branch is the variant's name (`hub_checkpoints`)",
                "hub_strategy": "`hub_checkpoints` pushes every checkpoint (strategy `checkpoint`)",
                "use_cpu": "set by the recipe from the hardware it runs on"}


class HubCheckpoints(_Strict):
    repo: str = Field(description="Hub model repo for checkpoints, e.g. my-org/latxa-8b-checkpoints.")
    private: bool = True


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
    lora: dict = Field(default_factory=lambda: dict(DEFAULT_LORA), description=(
        "mode lora: peft.LoraConfig arguments, passed through (r, lora_alpha, lora_dropout, target_modules, ...)."))
    qlora: bool = Field(False, description="mode lora: load the base in 4 bits (bitsandbytes, CUDA only).")
    training: dict = Field(default_factory=dict, description=(
        "trl.SFTConfig arguments, passed through unchanged (learning_rate, num_train_epochs, max_length, packing, "
        "neftune_noise_alpha, report_to, model_init_kwargs: {attn_implementation, dtype}, use_liger_kernel, ...). "
        "The recipe sets output_dir, and the hub_* arguments when hub_checkpoints is set."))
    effective_batch_size: int | None = Field(None, ge=1, description=(
        "Packed sequences per optimizer step over all processes. The recipe derives gradient_accumulation_steps "
        "from it, the per-device batch and the world size, so one config keeps the same optimisation on any "
        "number of GPUs."))
    hub_checkpoints: HubCheckpoints | None = Field(None, description=(
        "Push each checkpoint to this Hub repo, branch = the variant's name, and resume from it."))
    merge: bool = Field(False, description="mode lora: also write the adapter merged into a full model.")
    max_shard_size: str = Field("5GB", description="Largest safetensors shard of full and merged weights.")
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

    def published(self) -> dict:
        """The config as hubtool.json records it: every local path portable (relative to the config's folder,
        or only its name), never an absolute path of this machine."""
        from hub_tools.text.localpaths import portable_path

        data = self.model_dump(mode="json")
        for key in ("base_model", "output_dir", "chat_template"):
            if data.get(key) and Path(data[key]).expanduser().is_absolute():
                data[key] = portable_path(data[key], self._base)
        for slot in data["data"].values():
            for src in slot:
                if src.get("path"):
                    src["path"] = portable_path(src["path"], self._base)
        return data

    def sources(self) -> list[DataSource]:
        """Every data source of every slot."""
        return [src for slot in self.data.values() for src in slot]

    @model_validator(mode="after")
    def _no_silent_options(self) -> "TrainConfig":
        """Refuse settings that would be ignored, instead of training without them."""
        t = self.training
        for key, why in RECIPE_OWNED.items():
            if key in t:
                raise ValueError(f"training.{key} is set by the recipe: {why}")
        if self.mode == "full":
            for key, on in (("qlora", self.qlora), ("merge", self.merge)):
                if on:
                    raise ValueError(f"{key}: true only applies to mode lora (mode is full)")
            if "lora" in self.model_fields_set:
                raise ValueError("`lora` only applies to mode lora (mode is full): remove it")
        if self.effective_batch_size and "gradient_accumulation_steps" in t:
            raise ValueError("set either effective_batch_size or training.gradient_accumulation_steps, not both "
                             "(the recipe derives the accumulation from the effective batch)")
        packing, strategy = t.get("packing", False), t.get("packing_strategy", "bfd")
        if packing and strategy in ("bfd", "bfd_split") and t.get("padding_free") is False:
            raise ValueError(f"training.padding_free: false has no effect with packing_strategy {strategy} "
                             "(TRL packs padding-free, with position ids that restart per sample)")
        if t.get("padding_free") and not packing and t.get("max_length") is not None:
            raise ValueError("training.max_length is not enforced with padding_free and no packing: "
                             "enable packing or remove max_length")
        if not packing and "packing_strategy" in t:
            raise ValueError("training.packing_strategy has no effect without training.packing: true")
        if t.get("eval_strategy", "no") != "no":
            raise ValueError("training.eval_strategy: the recipe has no evaluation set; evaluate the artifact with "
                             "`hubtool recipe lm-eval` instead")
        if self.hub_checkpoints and t.get("save_strategy") == "no":
            raise ValueError("hub_checkpoints with training.save_strategy: no would push nothing")
        liger = t.get("liger_kernel_config") or {}
        if liger and not t.get("use_liger_kernel"):
            raise ValueError("training.liger_kernel_config has no effect without training.use_liger_kernel: true")
        if liger.get("fused_linear_cross_entropy"):
            raise ValueError("training.liger_kernel_config.fused_linear_cross_entropy: TRL computes the loss with "
                             "its own fused LM head and refuses Liger's; leave it out")
        return self

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
