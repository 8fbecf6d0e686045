"""Checks of model artifacts: full models and PEFT adapters.

Shapes are compared from safetensors headers against a model built on the ``meta`` device (no
memory for weights, any size). Small models (< ``SMALL_MODEL_BYTES``) are also really loaded and
asked for one token.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hub_tools.validate.findings import Finding

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model")
SMALL_MODEL_BYTES = 50 * 1024 * 1024
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_hub_repo_id(value: str, folder: Path | None = None) -> bool:
    """True for ``org/name``; false for absolute, home or relative paths that exist on this disk."""
    if not isinstance(value, str) or not _REPO_ID.match(value) or "--" in value or ".." in value:
        return False
    return not (Path(value).exists() or (folder is not None and (folder / value).exists()))


def has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            return bool(json.loads(cfg.read_text()).get("chat_template"))
        except ValueError:
            return False
    return False


def safetensors_shapes(folder: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and dtypes from the headers of every *.safetensors file (no weights read)."""
    from safetensors import safe_open

    shapes, dtypes = {}, {}
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(f, framework="pt") as st:
            for key in st.keys():
                sl = st.get_slice(key)
                shapes[key] = tuple(sl.get_shape())
                dtypes[key] = sl.get_dtype()
    return shapes, dtypes


def meta_model(config):
    """The architecture of ``config`` on the meta device: module names and shapes, no memory."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def check_model(folder: Path, kind: str, artifact: str | None = None, chat: bool = True,
                base_model_path: Path | None = None) -> tuple[list[Finding], dict]:
    findings: list[Finding] = []

    def add(code: str, message: str, file: str | None = None, field: str | None = None) -> None:
        findings.append(Finding(code, message, file=file, field=field, artifact=artifact))

    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for f in files:
        if f.lower().endswith(PICKLE_SUFFIXES):
            add("HT201", "pickle-based weights can run code when loaded; they are refused", f)
    is_adapter = kind == "adapter"
    config_name = "adapter_config.json" if is_adapter else "config.json"
    if config_name not in files:
        add("HT202", f"{config_name} is missing", config_name)
    weights = [f for f in files if f.endswith(".safetensors")]
    if not weights:
        add("HT207", "no *.safetensors weights", "*.safetensors")
    if not any(t in files for t in TOKENIZER_FILES):
        add("HT203", f"no tokenizer ({' or '.join(TOKENIZER_FILES[:2])})", "tokenizer.json")
    elif chat and not has_chat_template(folder):
        add("HT204", "the tokenizer has no chat template, so chat UIs and apply_chat_template cannot prompt it",
            "tokenizer_config.json", "chat_template")
    if any(f.code in ("HT202", "HT207") for f in findings):
        return findings, {}
    try:
        stats, shapes = model_stats(folder, kind)
    except Exception as err:
        add("HT207", f"unreadable safetensors header: {err}", weights[0])
        return findings, {}
    weight_bytes = sum((folder / f).stat().st_size for f in weights)
    if is_adapter:
        _check_adapter(folder, findings, stats, shapes, artifact, base_model_path, weight_bytes, chat)
    else:
        _check_full_model(folder, findings, stats, shapes, artifact, weight_bytes, chat)
    return findings, stats


def model_stats(folder: Path, kind: str) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """Figures for the card from file sizes, safetensors headers and adapter_config.json (no weights loaded)."""
    shapes, dtypes = safetensors_shapes(folder)
    stats: dict[str, Any] = {
        "files": {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()},
        "parameters": sum(_numel(s) for s in shapes.values()), "dtypes": sorted(set(dtypes.values())),
    }
    if kind == "adapter":
        cfg = json.loads((folder / "adapter_config.json").read_text())
        stats.update({"base_model": cfg.get("base_model_name_or_path"), "peft_type": cfg.get("peft_type"),
                      "r": cfg.get("r"), "lora_alpha": cfg.get("lora_alpha"), "target_modules": cfg.get("target_modules")})
    return stats, shapes


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_full_model(folder: Path, findings: list[Finding], stats: dict, shapes: dict, artifact: str | None,
                      weight_bytes: int, chat: bool) -> None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder)
        model = meta_model(config)
    except Exception as err:
        findings.append(Finding("HT208", f"config.json does not build a causal LM: {err}", file="config.json",
                                artifact=artifact))
        return
    stats.update({"architecture": type(model).__name__, "model_type": config.model_type})
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key, shape in shapes.items():
        if key not in expected:
            findings.append(Finding("HT207", f"tensor {key} is not part of {type(model).__name__}",
                                    file="model.safetensors", field=key, artifact=artifact))
        elif expected[key] != shape:
            findings.append(Finding("HT207", f"tensor {key} has shape {list(shape)}, the config expects "
                                             f"{list(expected[key])}", file="model.safetensors", field=key,
                                    artifact=artifact))
    tied = getattr(config, "tie_word_embeddings", False)
    missing = [k for k in expected if k not in shapes and not (tied and k.startswith("lm_head."))]
    if missing:
        findings.append(Finding("HT207", f"{len(missing)} tensors missing, e.g. {missing[0]}",
                                file="model.safetensors", artifact=artifact))
    if not any(f.code == "HT207" for f in findings) and weight_bytes <= SMALL_MODEL_BYTES:
        _smoke_generate(folder, None, findings, artifact, chat)


def _check_adapter(folder: Path, findings: list[Finding], stats: dict, shapes: dict, artifact: str | None,
                   base_model_path: Path | None, weight_bytes: int, chat: bool) -> None:
    from transformers import AutoConfig

    cfg = json.loads((folder / "adapter_config.json").read_text())
    base = cfg.get("base_model_name_or_path")
    if not is_hub_repo_id(base or "", folder):
        findings.append(Finding("HT205", f"base_model_name_or_path is {base!r}: users cannot download that; "
                                         "it must be the Hub id of the base model",
                                file="adapter_config.json", field="base_model_name_or_path", artifact=artifact))
    source = base_model_path or (base if is_hub_repo_id(base or "", folder) else None)
    if source is None:
        findings.append(Finding("HT209", "no base model to check target modules and shapes against",
                                file="adapter_config.json", artifact=artifact))
        return
    try:
        base_config = AutoConfig.from_pretrained(source)
        model = meta_model(base_config)
    except Exception as err:
        findings.append(Finding("HT209", f"base model {source} not available ({type(err).__name__}); target "
                                         "modules and shapes unchecked", file="adapter_config.json",
                                artifact=artifact))
        return
    modules = dict(model.named_modules())
    targets = cfg.get("target_modules") or []
    if isinstance(targets, str):
        rx = re.compile(targets)
        if not any(rx.fullmatch(name) for name in modules):
            findings.append(Finding("HT206", f"target_modules regex {targets!r} matches no module of "
                                             f"{type(model).__name__}", file="adapter_config.json",
                                    field="target_modules", artifact=artifact))
    else:
        leaves = {name.rsplit(".", 1)[-1] for name in modules}
        for t in targets:
            if t not in leaves and t not in modules:
                findings.append(Finding("HT206", f"target module {t!r} does not exist in {type(model).__name__} "
                                                 f"(e.g. {', '.join(sorted(leaves & _LINEAR_HINTS) or sorted(leaves)[:5])})",
                                        file="adapter_config.json", field="target_modules", artifact=artifact))
    for key, shape in shapes.items():
        m = re.match(r"^base_model\.model\.(.+)\.(lora_A|lora_B)(?:\.[^.]+)?\.weight$", key)
        if not m:
            continue
        module = modules.get(m.group(1))
        if module is None or not hasattr(module, "in_features"):
            findings.append(Finding("HT207", f"{key}: the base model has no linear module {m.group(1)}",
                                    file="adapter_model.safetensors", field=key, artifact=artifact))
            continue
        want = (shape[0], module.in_features) if m.group(2) == "lora_A" else (module.out_features, shape[1])
        if tuple(shape) != want:
            findings.append(Finding("HT207", f"{key} has shape {list(shape)}, the base module needs {list(want)}",
                                    file="adapter_model.safetensors", field=key, artifact=artifact))
    if not any(f.code in ("HT205", "HT206", "HT207") for f in findings) and weight_bytes <= SMALL_MODEL_BYTES:
        _smoke_generate(folder, source, findings, artifact, chat)


_LINEAR_HINTS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "c_attn", "query_key_value"}


def generate_one_token(model: Path | str, adapter: Path | str | None = None, chat: bool = True,
                       model_revision: str | None = None, adapter_revision: str | None = None,
                       cache_dir: str | None = None) -> str:
    """Load a (small) model, plus its adapter if given (local dirs or Hub ids), and generate one token.
    The tokenizer comes with the adapter when there is one. Returns the generated text."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if adapter is not None:
        tokenizer = AutoTokenizer.from_pretrained(adapter, revision=adapter_revision, cache_dir=cache_dir)
    else:
        tokenizer = AutoTokenizer.from_pretrained(model, revision=model_revision, cache_dir=cache_dir)
    model_obj = AutoModelForCausalLM.from_pretrained(model, revision=model_revision, cache_dir=cache_dir)
    if adapter is not None:
        from peft import PeftModel

        model_obj = PeftModel.from_pretrained(model_obj, adapter, revision=adapter_revision, cache_dir=cache_dir)
    model_obj.eval()
    if chat and tokenizer.chat_template:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Kaixo!"}], add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
    else:
        inputs = tokenizer("Kaixo", return_tensors="pt")
    with torch.no_grad():
        out = model_obj.generate(**inputs, max_new_tokens=1, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    if out.shape[1] != inputs["input_ids"].shape[1] + 1:
        raise RuntimeError("generate() returned no new token")
    return tokenizer.decode(out[0, -1:])


def _smoke_generate(folder: Path, base_source: Path | str | None, findings: list[Finding], artifact: str | None,
                    chat: bool) -> None:
    try:
        if base_source is None:
            generate_one_token(folder, chat=chat)
        else:
            generate_one_token(base_source, adapter=folder, chat=chat)
    except Exception as err:
        findings.append(Finding("HT208", f"loading and generating one token failed: {type(err).__name__}: {err}",
                                artifact=artifact))
