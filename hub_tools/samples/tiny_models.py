"""Tiny models built locally from the bundled Basque sample: a byte-level BPE tokenizer with a
Llama-3-style chat template, a 2-layer Llama, and LoRA adapters on it.

They stand in for real backbones wherever nothing may be downloaded: the quickstart, the CPU
profiles of the recipes, and the tests. They are untrained (random weights): they exercise every
code path of saving, publishing, loading and generating, not language quality.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|pad|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def sample_sentences() -> list[str]:
    """The bundled Basque sample sentences (CC0, written for hubtool)."""
    text = resources.files("hub_tools.samples").joinpath("basque_sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def training_lines() -> list[str]:
    """A few hundred lines for the tokenizer: the sentences, their lowercase forms and pairs of them."""
    sents = sample_sentences()
    pairs = [f"{a} {b}" for a, b in zip(sents, sents[1:] + sents[:1])]
    return sents + [s.lower() for s in sents] + pairs


def build_tokenizer(vocab_size: int = 512, lines: list[str] | None = None):
    """A byte-level BPE tokenizer trained on ``lines`` (default: the bundled sample), with the chat template set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines if lines is not None else training_lines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   pad_token="<|pad|>", model_max_length=256)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_llama(tokenizer, seed: int = 0, hidden_size: int = 32, layers: int = 2):
    """A random 2-layer Llama sized for the tokenizer (about 50k parameters)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # Tokens that are only part of a UTF-8 character get a zero embedding (and so, tied, a zero logit): the
    # random model then mostly picks whole subwords, and its text is readable letters rather than U+FFFD.
    partial = [i for i in range(len(tokenizer)) if "\ufffd" in tokenizer.decode([i])]
    with torch.no_grad():
        model.get_input_embeddings().weight[partial] = 0.0
    return model


def save_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny Llama + tokenizer (safetensors) to ``out_dir``."""
    out = Path(out_dir)
    tokenizer = build_tokenizer()
    model = build_llama(tokenizer, seed=seed)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def save_tiny_adapter(base_dir: str | Path, out_dir: str | Path, base_repo_id: str, seed: int = 1,
                      target_modules: tuple[str, ...] = ("q_proj", "v_proj"), rank: int = 4) -> Path:
    """Write a LoRA adapter for the model in ``base_dir`` whose config names ``base_repo_id`` (a Hub id,
    never the local path). Its weights are random and non-zero, so it visibly changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    peft_model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(target_modules),
                                                 task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    out = Path(out_dir)
    peft_model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # peft's stub card names the local base path
    cfg_path = out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = base_repo_id
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return out
