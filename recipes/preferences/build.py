"""Arena votes -> a preference dataset artifact in the reference schema, and rankings per dimension.

Configs (data/<config>/train-00000-of-00001.parquet), named by collection period `YY-MM` as the reference
dataset (HiTZ/ebaluatoia) names them, every one with explicit features (schema.py), so a config holds the
same dtypes whatever the votes contain and the same config of two releases concatenates:
- ``YY-MM-sanitized`` (the default config): the reference's 12 features; usernames replaced by an HMAC
  pseudonym with a secret salt, e-mails/phones/IPs scrubbed from the conversations;
- ``YY-MM`` (only with ``include_raw``, for private repos): the same, unsanitized;
- ``YY-MM-dpo``: prompt, chosen, rejected as message lists (ties and both-bad carry no pairwise preference);
- ``YY-MM-kto``: prompt, completion, label: the winner's answer True and the loser's False; a tie labels
  both True, a both-bad vote both False;
- ``YY-MM-hyperparameters``: the sanitized rows plus a ``hyperparameters`` column, the sampling settings
  each answer was made with (temperature, top_p, max_new_tokens, seed).
The folder's README declares the configs and the default (`hubtool card` keeps that declaration).
Rankings (overall, content, language): Bradley-Terry on the Elo scale with bootstrap CIs, in hubtool.json
and so in the card.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import sqlite3
from pathlib import Path

import yaml

from hub_tools.text.pii import scrub

from .ratings import DIMENSIONS, WINNERS, rank_dimension
from .schema import (ARENA_FEATURES, DPO_FEATURES, FIELDS, HYPERPARAMETERS_FEATURES, KTO_FEATURES, PERIOD,
                     collection_period, reference_row)

ARENA_FIELDS = FIELDS
RECIPE_VERSION = "2.0"


def load_votes(source: str | Path) -> list[dict]:
    """Votes from the Space's SQLite file, a folder of exported jsonl batches, or a Hub dataset repo id."""
    path = Path(source)
    if path.is_file():
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM votes ORDER BY seq")]
        db.close()
    elif path.is_dir():
        rows = [json.loads(line) for f in sorted(path.rglob("votes-*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        import datasets

        rows = datasets.load_dataset(str(source), split="train").to_list()  # the export's README declares features
    for r in rows:
        r.pop("seq", None)
        for key in ("conv_a", "conv_b", "hyperparameters"):
            if isinstance(r.get(key), str):
                r[key] = json.loads(r[key])
    return rows


def pseudonym(username: str | None, salt: bytes) -> str:
    """The reference's username form (a signed 64-bit integer in decimal), from an HMAC: "" when anonymous."""
    if not username:
        return ""
    digest = hmac.new(salt, str(username).encode(), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def sanitize(row: dict, salt: bytes) -> tuple[dict, dict[str, int]]:
    """A reference row with the username pseudonymized and PII scrubbed from both conversations."""
    out = dict(row)
    out["username"] = pseudonym(row["username"], salt)
    counts: dict[str, int] = {}
    for side in ("conv_a", "conv_b"):
        conv = []
        for m in row[side]:
            text, found = scrub(m["content"])
            for k, n in found.items():
                counts[k] = counts.get(k, 0) + n
            conv.append({"role": m["role"], "content": text})
        out[side] = conv
    return out, counts


def _split_conversation(conv: list[dict]) -> tuple[list[dict], list[dict]]:
    """(prompt: every turn before the last assistant turn, completion: that assistant turn)."""
    last = max(i for i, m in enumerate(conv) if m["role"] == "assistant")
    return conv[:last], [conv[last]]


def trl_views(votes: list[dict]) -> tuple[list[dict], list[dict]]:
    pairs, unpaired = [], []
    for v in votes:
        prompt, completion_a = _split_conversation(v["conv_a"])
        _, completion_b = _split_conversation(v["conv_b"])
        w = v["winner"]
        if w in ("model_a", "model_b"):
            chosen, rejected = (completion_a, completion_b) if w == "model_a" else (completion_b, completion_a)
            pairs.append({"id": v["id"], "prompt": prompt, "chosen": chosen, "rejected": rejected})
            unpaired += [{"id": f"{v['id']}-chosen", "prompt": prompt, "completion": chosen, "label": True},
                         {"id": f"{v['id']}-rejected", "prompt": prompt, "completion": rejected, "label": False}]
        else:
            good = w == "tie"
            unpaired += [{"id": f"{v['id']}-a", "prompt": prompt, "completion": completion_a, "label": good},
                         {"id": f"{v['id']}-b", "prompt": prompt, "completion": completion_b, "label": good}]
    return pairs, unpaired


def with_hyperparameters(votes: list[dict], rows: list[dict]) -> list[dict]:
    """``rows`` (the votes' sanitized reference rows) plus the sampling settings of both answers (null for
    votes stored before hubtool kept them)."""
    def side(settings: dict | None) -> dict | None:
        return {k: settings.get(k) for k in ("max_new_tokens", "seed", "temperature", "top_p")} if settings else None

    out = []
    for v, row in zip(votes, rows):
        h = v.get("hyperparameters") or {}
        out.append({**row, "hyperparameters": {"model_a": side(h.get("model_a")), "model_b": side(h.get("model_b"))}
                    if h else None})
    return out


def rankings(votes: list[dict], bootstrap_rounds: int, seed: int) -> dict[str, list[dict]]:
    ranked = {dim: rank_dimension(votes, dim, bootstrap_rounds, seed) for dim in DIMENSIONS}
    return {dim: r.table() for dim, r in ranked.items() if r is not None}


def _write(folder: Path, rows: list[dict], features) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    # explicit schema: a column no voter filled stays a string column (not `null`), so releases concatenate
    pq.write_table(pa.Table.from_pylist(rows, schema=features.arrow_schema),
                   folder / "train-00000-of-00001.parquet")


def config_names(period: str) -> dict[str, str]:
    return {"sanitized": f"{period}-sanitized", "raw": period, "dpo": f"{period}-dpo", "kto": f"{period}-kto",
            "hyperparameters": f"{period}-hyperparameters"}


def build_preferences(votes: list[dict], out: str | Path, name: str, language: str, salt: bytes,
                      include_raw: bool = False, bootstrap_rounds: int = 200, seed: int = 0,
                      source: str = "", period: str | None = None) -> Path:
    from hub_tools.artifacts.provenance import InputFingerprint, Provenance, RecipeInfo, write_provenance

    if not salt:
        raise ValueError("a secret salt is needed to pseudonymize usernames (HUBTOOL_PREFERENCES_SALT)")
    if not votes:
        raise ValueError("no votes to build a preference dataset from")
    period = period or collection_period(votes)
    if not PERIOD.match(period):
        raise ValueError(f"period {period!r}: expected YY-MM (the month the collection began, e.g. 25-03)")
    out = Path(out)
    raw = [reference_row(v) for v in votes]
    if (out / "data").exists():
        shutil.rmtree(out / "data")  # the configs of an earlier build (another period) must not linger
    sanitized, pii = [], {}
    for row in raw:
        clean, counts = sanitize(row, salt)
        sanitized.append(clean)
        for k, n in counts.items():
            pii[k] = pii.get(k, 0) + n
    pairs, unpaired = trl_views(sanitized)
    names = config_names(period)
    views = [(names["sanitized"], sanitized, ARENA_FEATURES)]
    if include_raw:
        views.append((names["raw"], raw, ARENA_FEATURES))
    views += [(names["dpo"], pairs, DPO_FEATURES), (names["kto"], unpaired, KTO_FEATURES),
              (names["hyperparameters"], with_hyperparameters(votes, sanitized), HYPERPARAMETERS_FEATURES)]
    views = [(config, rows, features) for config, rows, features in views if rows]
    for config, rows, features in views:
        _write(out / "data" / config, rows, features)
    configs = [{"config_name": config, "data_files": [{"split": "train", "path": f"data/{config}/train-*.parquet"}],
                **({"default": True} if config == names["sanitized"] else {})} for config, _, _ in views]
    (out / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}, sort_keys=False) + "---\n"
                                   f"# {name}\n\nArena preferences; `hubtool card` writes the full card.\n",
                                   encoding="utf-8")
    prov = Provenance.create(kind="preferences", name=name, language=[language],
                             recipe=RecipeInfo(name="preferences", version=RECIPE_VERSION),
                             config={"include_raw": include_raw, "bootstrap_rounds": bootstrap_rounds, "seed": seed,
                                     "period": period},
                             seed=seed, inputs=[InputFingerprint(name="votes", ref=source, rows=len(votes))])
    prov.statistics = {"votes": len(votes), "period": period, "default_config": names["sanitized"],
                       "models": sorted({v["model_a"] for v in raw} | {v["model_b"] for v in raw}),
                       "winners": {w: sum(v["winner"] == w for v in raw) for w in WINNERS},
                       "voters": len({v["username"] for v in sanitized if v["username"]}),
                       "profiles": {"user_language": sum(bool(v["user_language"]) for v in raw),
                                    "user_education": sum(bool(v["user_education"]) for v in raw)},
                       "pii_replacements": pii, "rankings": rankings(sanitized, bootstrap_rounds, seed),
                       "rows": {config: len(rows) for config, rows, _ in views}}
    prov.card = {"pretty_name": f"{name} (arena preferences)", "tags": ["arena", "human-feedback"]}
    prov.finish()
    write_provenance(out, prov)
    return out
