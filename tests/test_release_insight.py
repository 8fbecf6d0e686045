"""`hubtool diff` on releases with standard errors, the cards' pictures and "Changes since" section, read
back through the real Hub client from the local hub.

Three releases of one manifest (tests/insight_releases.py): v1.0; v1.1 with the same content; v2.0 with
one corpus source added (the corpus recipe run again with `books`) and exp_2_111's BLEU moved from
11.0 ± 0.5 to 13.0 ± 0.5 (2.8 standard errors of the difference). The diff of whole releases built by the
quickstart's recipes (rows, sources, recomputed scores, identical releases) is tests/test_quickstart_diff.py.
"""
from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from cli_helpers import cli
from conftest import ADMIN_TOKEN
from huggingface_hub import HfApi, hf_hub_download
from insight_releases import (
    ADDED_SOURCE,
    BLEU_STDERR,
    add_source,
    build_release,
    set_scores,
    set_version,
)
from PIL import Image

pytestmark = pytest.mark.slow
NS = "insight-releases"
SPLITS = ("train", "validation")


def rows_of(folder: Path) -> dict[str, list[dict]]:
    return {s: pq.read_table(folder / "data" / f"{s}-00000-of-00001.parquet").to_pylist() for s in SPLITS}


def canonical(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


@dataclass
class Releases:
    manifest: Path
    corpus_v1: dict[str, list[dict]]
    corpus_v2: dict[str, list[dict]]
    v2: dict


@pytest.fixture(scope="module")
def releases(hub, tmp_path_factory) -> Releases:
    root = tmp_path_factory.mktemp("insight") / "release"
    manifest = build_release(root, NS)
    for version in ("v1.0", "v1.1"):  # v1.1: the same artifacts released again
        set_version(manifest, version)
        code, out = cli("release", manifest, "--json", "--no-verify")
        assert code == 0, out
    corpus_v1 = rows_of(root / "corpus")
    add_source(manifest)
    set_scores(root, bleu=13.0, acc=0.5)
    set_version(manifest, "v2.0")
    code, v2 = cli("release", manifest, "--json", "--no-verify")
    assert code == 0, v2
    return Releases(manifest, corpus_v1, rows_of(root / "corpus"), v2)


def test_a_local_release_against_its_published_tag_labels_changes_beyond_and_within_error(releases, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(releases.manifest.parent, copy)
    # BLEU +1.5 and accuracy +0.02, against standard errors of the difference of 0.707 and 0.0707
    set_scores(copy, bleu=14.5, acc=0.52)
    code, out = cli("diff", "v2.0", copy / "release.yaml", "--only", "exp_2_111", "--json")
    assert code == 0, out
    [model] = out["artifacts"]
    assert model["old"]["revision"] == "v2.0-exp_2_111" and model["new"]["local"] is True
    bleu, acc = model["metrics"]
    se = math.hypot(BLEU_STDERR, BLEU_STDERR)
    assert (bleu["metric"], bleu["old"], bleu["new"], bleu["delta"]) == ("BLEU", 13.0, 14.5, 1.5)
    assert bleu["stderr"] == pytest.approx(se) and bleu["z"] == pytest.approx(1.5 / se, abs=1e-4)
    assert bleu["label"] == "beyond error"  # 2.12 standard errors
    assert (acc["metric"], acc["old"], acc["new"]) == ("Accuracy", 0.5, 0.52)
    assert acc["stderr"] == pytest.approx(math.hypot(0.05, 0.05)) and acc["label"] == "within error"
    code, out = cli("diff", "v2.0", copy / "release.yaml", "--only", "corpus", "--json")
    assert code == 0 and out["changed"] is False  # the local corpus is the published one


def test_one_artifact_by_repo_and_revision_in_a_small_memory_budget(releases):
    repo = f"datasets/{NS}/basque-sample-corpus"
    code, big = cli("diff", f"{repo}@v1.1", f"{repo}@v2.0", "--json")
    assert code == 0 and big["artifacts"][0]["memory"]["spilled"] is False
    # 2 KiB hold 256 row hashes: fewer than the two versions' rows, so they go to disk partitions
    code, small = cli("diff", f"{repo}@v1.1", "v2.0", "--json", "--memory-budget", "2KiB")  # bare rev: same repo
    assert code == 0, small
    a, b = big["artifacts"][0], small["artifacts"][0]
    assert b["memory"]["budget_bytes"] == 2048 and b["memory"]["spilled"] is True
    assert b["memory"]["peak_hash_bytes"] <= 2048 + 8 * 8192  # the budget plus one batch of rows
    assert a["rows"] == b["rows"] and a["rows_total"]["added"] == sum(
        len(releases.corpus_v2[s]) - len(releases.corpus_v1[s]) for s in SPLITS)
    code, text = cli("diff", f"{repo}@v1.1", f"{repo}@v2.0", "--show-rows", "2")
    assert code == 0 and "added row: default/" in text and "config.sources[books]: added" in text


def _cards(api: HfApi, releases: Releases) -> dict[str, tuple[str, str, str, str]]:
    """artifact -> (repo type, repo id, tag, README text) at v2.0."""
    out = {}
    for a in releases.v2["artifacts"]:
        text = Path(hf_hub_download(a["repo_id"], "README.md", repo_type=a["repo_type"], revision=a["tag"])).read_text()
        out[a["name"]] = (a["repo_type"], a["repo_id"], a["tag"], text)
    return out


def test_cards_show_their_pictures_on_the_hub(hub, releases):
    api = HfApi(endpoint=hub.url, token=ADMIN_TOKEN)
    cards = _cards(api, releases)
    expected = {"corpus": {"languages", "sources", "words-per-row"}, "instructions": {"languages", "words-per-row"},
                "preferences": {"languages", "words-per-row", "win-rates"}, "base": {"scores"},
                "exp_2_111": {"scores"}}
    for name, (repo_type, repo_id, tag, text) in cards.items():
        links = re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", text)
        assert {Path(p).stem for _, p in links} == expected[name], name
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        for alt, path in links:
            assert len(alt) > 20 and not path.startswith(("/", "http")), (name, path)  # alt text, relative link
            resp = httpx.get(f"{hub.url}/{prefix}{repo_id}/resolve/{tag}/{path}", trust_env=False,
                             follow_redirects=True)
            assert resp.status_code == 200, (name, path)
            image = Image.open(io.BytesIO(resp.content))
            assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
            image.verify()
    # every number the sources picture shows is in its table, and equals the data
    counts = Counter(r["source"] for rows in releases.corpus_v2.values() for r in rows)
    total = sum(counts.values())
    corpus_card = cards["corpus"][3]
    for source, n in counts.items():
        assert f"| {source} | {n:,} | {n / total * 100:.1f}% |" in corpus_card
    for split in SPLITS:  # words-per-row histogram rows add up to each split's rows
        header = next(line for line in corpus_card.splitlines() if line.startswith("| words per row |"))
        column = header.strip("|").split("|").index(f" {split} ")
        lines = corpus_card.split(header, 1)[1].strip().splitlines()[1:]
        table = [line for line in lines[: next((i for i, x in enumerate(lines) if not x.startswith("|")), len(lines))]]
        assert sum(int(line.strip("|").split("|")[column].replace(",", "")) for line in table) == \
            len(releases.corpus_v2[split])
    scores = cards["exp_2_111"][3]
    assert "| Machine translation en-eu · BLEU | 13 ± 0.5 | 2 ± 0.3 | +11 |" in scores


def test_cards_say_what_changed_since_the_previous_release(hub, releases):
    api = HfApi(endpoint=hub.url, token=ADMIN_TOKEN)
    cards = _cards(api, releases)
    corpus = cards["corpus"][3]
    assert "## Changes since v1.1" in corpus
    for split in SPLITS:
        old, new = len(releases.corpus_v1[split]), len(releases.corpus_v2[split])
        assert f"| default | {split} | {old:,} | {new:,} | {new - old:,} | 0 | {old:,} |" in corpus
    assert f"- `config.sources[{ADDED_SOURCE}]` added" in corpus
    model = cards["exp_2_111"][3]
    se = math.hypot(BLEU_STDERR, BLEU_STDERR)
    assert f"| Machine translation en-eu | BLEU | 11.0 | 13.0 | +2 | {se:.4g} | beyond error |" in model
    assert "## Changes since v1.1" in cards["instructions"][3] and "No change in rows" in cards["instructions"][3]
    v1 = Path(hf_hub_download(f"{NS}/basque-sample-corpus", "README.md", repo_type="dataset", revision="v1.0"))
    assert "## Changes since" not in v1.read_text()  # a first release has nothing to compare with


def test_rerunning_the_release_makes_no_commit(hub, releases):
    before = httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()
    code, out = cli("release", releases.manifest, "--json", "--no-verify")
    assert code == 0 and out["commits"] == 0, out
    after = httpx.get(f"{hub.url}/api/_localhub/stats", trust_env=False).json()
    assert after["commits"] == before["commits"] and after["lfs_uploads"] == before["lfs_uploads"]
