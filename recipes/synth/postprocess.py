"""Post-processing shared by every method: clean, bound, filter, deduplicate — and count every dropped row
by its reason, so that rows in = rows kept + rows dropped, always."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .config import PostProcess

_LABEL = re.compile(r"^\s*(?:#+\s*)?(?:instruction|instrukzioa|argibidea|agindua|galdera|question|user|erabiltzailea|"
                    r"query|prompt|answer|erantzuna|response|itzulpena|translation)\s*[:：]\s*", re.IGNORECASE)
_ROLE_HEADER = re.compile(r"\b(?:assistant|user|system)\s*\n\n", re.IGNORECASE)
_QUOTES = ('"', "'", "“", "”", "«", "»", "`")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")


def clean(text: str | None) -> str:
    """Strip control characters, labels the model adds ("Instruction:"), wrapping quotes, surplus whitespace."""
    text = _CONTROL.sub("", (text or "").replace("\r\n", "\n")).strip()
    for _ in range(2):
        text = _LABEL.sub("", text).strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
    text = _ROLE_HEADER.split(text, maxsplit=1)[0]  # a model that goes on with the next turn
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


def normalized(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


@dataclass
class Outcome:
    kept: list[dict] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one row id, to look at

    def drop(self, row_id: str, reason: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, row_id)


class NearDuplicates:
    """In-memory MinHash LSH over word n-grams (datatrove's signature code); first seen wins."""

    def __init__(self, cfg, language: str, work_dir: str):
        from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

        self.sig = MinhashDedupSignature(work_dir, config=MinhashConfig(
            n_grams=cfg.n_grams, num_buckets=cfg.num_buckets, hashes_per_bucket=cfg.hashes_per_bucket),
            language=language)
        self.seen: set[tuple[int, tuple[int, ...]]] = set()

    def is_duplicate(self, text: str) -> bool:
        shingles = self.sig.get_shingles(text)
        if len(shingles) == 0:  # shorter than one n-gram: the exact check covers it
            return False
        keys = {(i, tuple(bucket)) for i, bucket in enumerate(self.sig.get_signature(shingles))}
        duplicate = bool(keys & self.seen)
        self.seen |= keys
        return duplicate


def postprocess(rows: list[dict], cfg: PostProcess, language: str, work_dir: str) -> Outcome:
    """``rows``: {id, result} in a stable order. Returns the kept rows (with detected languages) and the drops."""
    out = Outcome()
    refusal = [re.compile(p, re.IGNORECASE) for p in cfg.refusal_patterns]
    candidates = []
    for row in rows:
        rid, result = row["id"], row["result"]
        if result.get("error"):
            out.drop(rid, "generation_error")
            continue
        instruction, response = clean(result.get("instruction")), clean(result.get("response"))
        if not instruction or not response:
            out.drop(rid, "empty")
            continue
        bounds = [(len(instruction) < cfg.min_instruction_chars, "instruction_too_short"),
                  (len(instruction) > cfg.max_instruction_chars, "instruction_too_long"),
                  (len(response) < cfg.min_response_chars, "response_too_short"),
                  (len(response) > cfg.max_response_chars, "response_too_long")]
        reason = next((r for bad, r in bounds if bad), None)
        if reason is None and any(p.search(instruction) or p.search(response) for p in refusal):
            reason = "refusal_or_boilerplate"
        if reason is None and cfg.judge.enabled:
            score = result.get("score")
            reason = "judge_unparsable" if score is None else "judge_below_threshold" if score < cfg.judge.threshold \
                else None
        if reason:
            out.drop(rid, reason)
            continue
        candidates.append({**row, "instruction": instruction, "response": response})
    if cfg.language_check and candidates:
        from hub_tools.validate.dataset_checks import build_detector

        detector = build_detector([language], [c for c in cfg.languages if c != language])
        texts = [c["instruction"] for c in candidates] + [c["response"] for c in candidates]
        found = [lang.iso_code_639_1.name.lower() if lang else "unknown"
                 for lang in detector.detect_languages_in_parallel_of(texts)]
        for i, c in enumerate(candidates):
            c["instruction_language"], c["response_language"] = found[i], found[len(candidates) + i]
    near = NearDuplicates(cfg.near_dedup, language, work_dir) if cfg.near_dedup.enabled else None
    exact: set[str] = set()
    for c in candidates:
        if cfg.language_check and c["instruction_language"] != language:
            out.drop(c["id"], "instruction_not_" + language)
            continue
        if cfg.language_check and c["response_language"] != language:
            out.drop(c["id"], "response_not_" + language)
            continue
        key = normalized(c["instruction"])
        if key in exact:
            out.drop(c["id"], "duplicate_instruction")
            continue
        exact.add(key)
        if near is not None and near.is_duplicate(c["instruction"]):
            out.drop(c["id"], "near_duplicate_instruction")
            continue
        out.kept.append(c)
    return out
