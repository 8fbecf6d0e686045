"""Settings of the overlap check between a release's evaluation sets and its training artifacts
(``validation.overlap`` in release.yaml; the check itself is hub_tools/validate/overlap.py)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvaluationSet(_Strict):
    """Evaluation items kept outside the release's artifacts, e.g. an lm-eval task's documents as jsonl."""

    name: str = Field(min_length=1, description="Name shown in findings and cards, e.g. the task name.")
    path: str = Field(description="A jsonl/json(.gz) or parquet file, or a folder of them; relative to the manifest.")
    id_field: str = Field("id", description="Field holding the item id (else the item's line/row number).")
    text_fields: list[str] | None = Field(None, description="Fields whose text is checked; default: every string, "
                                          "list of strings or list of messages except the id.")


class OverlapSettings(_Strict):
    n: int = Field(13, ge=1, le=64, description="Words per n-gram (13 as in GPT-3 and lm-evaluation-harness).")
    max_fraction: float = Field(0.05, ge=0, le=1, description="HT602 (error) when more than this share of an "
                                "evaluation set's items overlap the training data; any overlap is HT601 (warning).")
    evaluation_sets: list[EvaluationSet] = Field(default_factory=list, description="Besides the release's `eval` "
                                                 "artifacts, which are always checked.")
    training: list[str] | None = Field(None, description="Artifact names checked as training data; default: every "
                                       "corpus, instructions and preferences artifact of the release.")
    list_ids: int = Field(20, ge=1, description="Overlapping item ids listed per finding and card.")
