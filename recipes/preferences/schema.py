"""The published form of arena votes: the reference dataset's schema, exactly.

Reference: HiTZ/ebaluatoia on the Hugging Face Hub (the Latxa-Instruct arena, 12,890 votes), whose card
declares for each config 12 features, all strings except the two conversations (lists of {role, content}
strings); its viewer shows rows such as id `5d0bca4e-acd8-4028-9738-2007a32f87fe`, username
`-6428509523293213064`, user_language `C1-C2`, user_education `Bachelor`, timestamp
`2025-03-19T07:07:35.974527`. Its configs are named by collection period: `25-03` and `25-03-sanitized`.

Only `C1-C2` and `Bachelor` of the profile vocabulary are shown by the reference; the other values are
the reference arena's registration choices (hitz-zentroa/latxa-instruct, arena_with_user.py) written the
same way. Values of older hubtool stores are mapped onto them (LEGACY_*).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import datasets

FIELDS = ("id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b",
          "conv_a", "conv_b", "winner", "winner_content", "winner_language")
_TURNS = datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")})
ARENA_FEATURES = datasets.Features({name: _TURNS if name in ("conv_a", "conv_b") else datasets.Value("string")
                                   for name in FIELDS})
DPO_FEATURES = datasets.Features({"id": datasets.Value("string"), "prompt": _TURNS, "chosen": _TURNS,
                                  "rejected": _TURNS})
KTO_FEATURES = datasets.Features({"id": datasets.Value("string"), "prompt": _TURNS, "completion": _TURNS,
                                  "label": datasets.Value("bool")})
_SAMPLING = {"max_new_tokens": datasets.Value("int64"), "seed": datasets.Value("int64"),
             "temperature": datasets.Value("float64"), "top_p": datasets.Value("float64")}
# the reference's 12 features plus the sampling settings of both answers
HYPERPARAMETERS_FEATURES = datasets.Features({**ARENA_FEATURES,
                                              "hyperparameters": {"model_a": _SAMPLING, "model_b": _SAMPLING}})

LANGUAGE_LEVELS = ("C1-C2", "B1-B2", "A1-A2")
EDUCATION_LEVELS = ("Bachelor", "Vocational", "High school", "Secondary")
LEGACY_LANGUAGE = {"native": "C1-C2", "C2": "C1-C2", "C1": "C1-C2", "B2": "B1-B2", "B1": "B1-B2", "A2": "A1-A2",
                   "A1": "A1-A2"}
LEGACY_EDUCATION = {"doctorate": "Bachelor", "master": "Bachelor", "bachelor": "Bachelor", "university": "Bachelor",
                    "vocational": "Vocational", "secondary": "Secondary"}
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
PERIOD = re.compile(r"^\d{2}-\d{2}$")


class SchemaError(ValueError):
    """A vote that cannot be written in the reference schema; the message names the vote and the field."""


def reference_id(value: str) -> str:
    """The vote id as a UUID with hyphens (hubtool's first stores wrote 32 hex digits; same UUID)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)  # ids from elsewhere are kept as they are: they are still unique strings


def reference_timestamp(value: str, where: str) -> str:
    """`2025-03-19T07:07:35.974527`: naive, microseconds; an offset is converted to UTC first."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise SchemaError(f"{where}: timestamp {value!r} is not ISO 8601") from err
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime(TIMESTAMP_FORMAT)


def _vocabulary(value, allowed: tuple, legacy: dict, field: str, where: str) -> str:
    if value in (None, ""):
        return ""
    if value in allowed:
        return value
    if value in legacy:
        return legacy[value]
    raise SchemaError(f"{where}: {field} {value!r} is not one of {', '.join(allowed)} (the reference vocabulary); "
                      "fix the value in the vote store or map it in recipes/preferences/schema.py")


def reference_row(vote: dict) -> dict:
    """The 12 reference fields of one vote, strings everywhere ("" where nothing was given)."""
    where = f"vote {vote.get('id')!r}"
    missing = [k for k in ("id", "timestamp", "model_a", "model_b", "conv_a", "conv_b", "winner") if not vote.get(k)]
    if missing:
        raise SchemaError(f"{where}: missing {', '.join(missing)}")
    row = {k: "" if vote.get(k) is None else str(vote[k]) for k in FIELDS if k not in ("conv_a", "conv_b")}
    row["id"] = reference_id(vote["id"])
    row["timestamp"] = reference_timestamp(vote["timestamp"], where)
    row["user_language"] = _vocabulary(vote.get("user_language"), LANGUAGE_LEVELS, LEGACY_LANGUAGE, "user_language",
                                       where)
    row["user_education"] = _vocabulary(vote.get("user_education"), EDUCATION_LEVELS, LEGACY_EDUCATION,
                                        "user_education", where)
    for side in ("conv_a", "conv_b"):
        row[side] = [{"role": str(m["role"]), "content": str(m["content"])} for m in vote[side]]
    return {k: row[k] for k in FIELDS}


def collection_period(votes: list[dict]) -> str:
    """`YY-MM` of the first vote, the reference's config name for a collection that began that month."""
    first = min(reference_timestamp(v["timestamp"], f"vote {v.get('id')!r}") for v in votes)
    return first[2:7]
