"""Arena votes -> a preference dataset artifact, and rankings per dimension.

Configs (data/<config>/train-*.parquet):
- ``arena_sanitized``: the published Basque arena's features (HiTZ/ebaluatoia): id, username,
  user_language, user_education, timestamp, model_a, model_b, conv_a, conv_b (lists of {role, content},
  system turn included), winner, winner_content, winner_language; usernames replaced by an HMAC with a
  secret salt, e-mails/phones/IPs scrubbed from the conversations;
- ``arena`` (only with ``include_raw``, for private repos): the same, unsanitized;
- ``trl_pairs`` (DPO): prompt, chosen, rejected as message lists; ties and both-bad have no preference
  and are left out;
- ``trl_unpaired`` (KTO): prompt, completion, label: the winner's answer True and the loser's False; a
  tie labels both True, a both-bad vote both False.
Rankings (overall, content, language): Bradley-Terry on the Elo scale with bootstrap CIs, in hubtool.json
and so in the card.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from pathlib import Path

from hub_tools.text.pii import scrub

from .ratings import DIMENSIONS, rank_dimension

ARENA_FIELDS = ("id", "username", "user_language", "user_education", "timestamp", "model_a", "model_b",
                "conv_a", "conv_b", "winner", "winner_content", "winner_language")
RECIPE_VERSION = "1.0"


def load_votes(source: str | Path) -> list[dict]:
    """Votes from the Space's SQLite file, a folder of exported jsonl batches, or a Hub dataset repo id."""
    path = Path(source)
    if path.is_file():
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM votes ORDER BY seq")]
        db.close()
        for r in rows:
            r.pop("seq", None)
            r["conv_a"], r["conv_b"] = json.loads(r["conv_a"]), json.loads(r["conv_b"])
        return rows
    if path.is_dir():
        return [json.loads(line) for f in sorted(path.rglob("votes-*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    import datasets

    return datasets.load_dataset(str(source), split="train").to_list()  # the export's README declares the features


def pseudonym(username: str | None, salt: bytes) -> str | None:
    return None if not username else hmac.new(salt, username.encode(), hashlib.sha256).hexdigest()[:16]


def sanitize(vote: dict, salt: bytes) -> tuple[dict, dict[str, int]]:
    out = {k: vote.get(k) for k in ARENA_FIELDS}
    out["username"] = pseudonym(vote.get("username"), salt)
    counts: dict[str, int] = {}
    for side in ("conv_a", "conv_b"):
        conv = []
        for m in vote[side]:
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


def rankings(votes: list[dict], bootstrap_rounds: int, seed: int) -> dict[str, list[dict]]:
    ranked = {dim: rank_dimension(votes, dim, bootstrap_rounds, seed) for dim in DIMENSIONS}
    return {dim: r.table() for dim, r in ranked.items() if r is not None}


def build_preferences(votes: list[dict], out: str | Path, name: str, language: str, salt: bytes,
                      include_raw: bool = False, bootstrap_rounds: int = 200, seed: int = 0,
                      source: str = "") -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub_tools.artifacts.provenance import InputFingerprint, Provenance, RecipeInfo, write_provenance

    if not salt:
        raise ValueError("a secret salt is needed to pseudonymize usernames (HUBTOOL_PREFERENCES_SALT)")
    if not votes:
        raise ValueError("no votes to build a preference dataset from")
    out = Path(out)
    sanitized, pii = [], {}
    for v in votes:
        row, counts = sanitize(v, salt)
        sanitized.append(row)
        for k, n in counts.items():
            pii[k] = pii.get(k, 0) + n
    pairs, unpaired = trl_views(sanitized)
    views = {"arena_sanitized": sanitized, "trl_pairs": pairs, "trl_unpaired": unpaired}
    if include_raw:
        views["arena"] = [{k: v.get(k) for k in ARENA_FIELDS} for v in votes]
    for config, rows in views.items():
        if rows:
            (out / "data" / config).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), out / "data" / config / "train-00000-of-00001.parquet")
    prov = Provenance.create(kind="preferences", name=name, language=[language],
                             recipe=RecipeInfo(name="preferences", version=RECIPE_VERSION),
                             config={"include_raw": include_raw, "bootstrap_rounds": bootstrap_rounds, "seed": seed},
                             seed=seed, inputs=[InputFingerprint(name="votes", ref=source, rows=len(votes))])
    prov.statistics = {"votes": len(votes), "models": sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes}),
                       "winners": {w: sum(v["winner"] == w for v in votes) for w in
                                   ("model_a", "model_b", "tie", "tie (bothbad)")},
                       "pii_replacements": pii, "rankings": rankings(votes, bootstrap_rounds, seed),
                       "rows": {k: len(v) for k, v in views.items()}}
    prov.card = {"pretty_name": f"{name} (arena preferences)", "tags": ["arena", "human-feedback"]}
    prov.finish()
    write_provenance(out, prov)
    return out
