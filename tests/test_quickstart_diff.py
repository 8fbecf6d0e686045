"""`hubtool diff` between releases of the quickstart project, each built by its recipes and released by
`hubtool release` to a local hub, read back through the real Hub client.

v1.0 is the quickstart as built once for the session (tests/conftest.py `quickstart_built`), copied to a
private folder and released to a hub of this module's own (the session hub's `hubtool-demo` repos stay as
the quickstart left them); v1.1 is the same build released again. v2.0 is the same folder after two real
changes, each built with `hubtool build --only`:

- one evaluation setting: exp_1_110's evaluate stage scores the first `limit` rows of each task, with
  `limit` one below the MT task's size and at least the other tasks' sizes, so the evaluate recipe
  measures MT en-eu on one row fewer and the other tasks as before (only that stage runs);
- one corpus source more (`kronikak`, a small jsonl of Basque documents written for this test, CC0), the
  corpus rebuilt by its recipe (only the corpus runs).

Nothing downstream of the corpus is rebuilt: the models, instructions, Space and preferences of v2.0 are
those of v1.0 (their lineage names the v1.0 corpus, which trained them). The builds run on release.yaml,
which keeps the version they were first built under (a version bump alone re-runs every stage that names
its inputs by release tag); each release is a copy of it with its own `version` (docs/building.md, "A
second release"). The expected rows and scores are read from the builds' own files (pyarrow, the
evaluation results JSON), not from the diff.
"""
from __future__ import annotations

import json
import math
import shutil
import socket
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from cli_helpers import cli
from conftest import ADMIN_TOKEN, ENDPOINT, HubRunner

from hub_tools.hub.endpoint import bind_endpoint

pytestmark = pytest.mark.slow
SPLITS = ("train", "validation")
ADDED = "kronikak"
RAW = f"raw/eu_{ADDED}.jsonl"
VARIANT = "exp_1_110"  # the variant whose evaluation changes
TASKS = Path(__file__).resolve().parent.parent / "recipes" / "evaluate" / "tasks"
# Written for this test (CC0, like the bundled sample): news-style Basque documents on topics the bundled
# sample does not cover, each of about 50 words so that the corpus recipe's quality filter can keep them.
DOCS = [
    ("Arrantzaleak goizeko lauretan atera ziren portutik itsasontzi txikian. Itsasoa lasai zegoen eta eguzkia "
     "poliki-poliki agertu zen zerumugan. Sareak uretara bota zituzten eta bi ordu itxaron zuten. Antxoa ugari "
     "harrapatu zuten, baina ez zen izan iazko denboraldia bezain ona. Eguerdirako herrira itzuli ziren, eta "
     "arrantza guztia lonjan saldu zuten prezio onean."),
    ("Sukaldari ezagunak errezeta berria aurkeztu zuen atzo telebistako saioan. Bakailaoa pil-pilean prestatzeko "
     "modu tradizionala erakutsi zuen, baratxuri eta piperrarekin. Azaldu zuenez, olioaren tenperatura da "
     "sekreturik garrantzitsuena, eta kazola etengabe mugitu behar da saltsa loditu arte. Ikusleek galdera asko "
     "egin zizkioten, eta hurrengo astean postreak prestatuko dituela agindu zuen."),
    ("Astronomia elkarteak behaketa gaua antolatu zuen mendiko aterpetxean. Hamaika teleskopio jarri zituzten "
     "belardian, eta dozenaka bisitarik Saturnoren eraztunak ikusi ahal izan zituzten. Zeruan hodeirik ez "
     "zegoenez, Esne Bidea ere argi eta garbi agertu zen. Antolatzaileek izarren izenak euskaraz azaldu "
     "zituzten, eta haurrek izar iheskorrak zenbatu zituzten goizaldera arte."),
    ("Baserriko ukuiluan hiru behi, bost ardi eta oilo talde handi bat bizi dira. Amonak esne freskoarekin gazta "
     "egiten du astero, aitonak bezala egiten zuen moduan. Udan belarra moztu eta lehortu behar da neguan "
     "animaliek jan dezaten. Lan gogorra da, baina familiak ez du baserria saldu nahi, eta gazteek ere lagundu "
     "egiten dute asteburuetan."),
    ("Udal liburutegiak irakurketa klub berria sortu du helduentzat. Hilean behin elkartzen dira, eta "
     "aukeratutako eleberriari buruz hitz egiten dute kafe baten inguruan. Lehen saioan hogei lagunek parte "
     "hartu zuten, gehienak erretiratuak. Liburuzainak esan duenez, datorren urtean idazle gonbidatuak "
     "ekarriko dituzte, eta klubaren irakurketa zerrenda sare sozialetan argitaratuko dute."),
    ("Bizikleta lasterketak mendiko errepide estuetatik igaro ziren larunbat arratsaldean. Txirrindulari "
     "gazteek aldapa gogorrak igo behar izan zituzten bero handiarekin. Herritarrak bide ertzean jarri ziren "
     "txaloka eta ura eskaintzen. Azken kilometroetan bi lasterkari bakarrik geratu ziren aurrean, eta "
     "helmugako esprintean gazteenak irabazi zuen, ikusleen poz handirako."),
]


def rows_of(work: Path) -> dict[str, list[dict]]:
    data = work / "artifacts" / "corpus" / "data"
    return {s: [r for f in sorted(data.glob(f"{s}-*.parquet")) for r in pq.read_table(f).to_pylist()]
            for s in SPLITS}


def scores_of(work: Path) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(dataset, metric name) -> (value, stderr) as the evaluate recipe wrote them."""
    doc = json.loads((work / "artifacts" / "results" / f"{VARIANT}.json").read_text())
    return {(r["dataset"]["name"], m["name"]): (m["value"], (m.get("args") or {}).get("stderr"))
            for r in doc["results"] for m in r["metrics"]}


def canonical(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def task_sizes() -> dict[str, int]:
    return {f.stem: sum(1 for line in f.read_text(encoding="utf-8").splitlines() if line) for f in TASKS.glob("*.jsonl")}


def edit_manifest(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def build(manifest: Path, only: str) -> dict[str, str]:
    code, out = cli("build", manifest, "--only", only, "--json")
    assert code == 0 and out["ok"], out
    return {s["name"]: s["status"] for s in out["stages"]}


@dataclass
class Releases:
    hub: str
    manifests: dict[str, Path]  # version -> the manifest released under it
    corpus_v1: dict[str, list[dict]]
    corpus_v2: dict[str, list[dict]]
    scores_v1: dict
    scores_v2: dict
    names: list[str]


@pytest.fixture(scope="module")
def releases(quickstart_built, tmp_path_factory) -> Releases:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = HubRunner(tmp_path_factory.mktemp("qsdiff-hub") / "hub", port)
    hub.start()
    try:
        work = tmp_path_factory.mktemp("qsdiff") / "quickstart"
        shutil.copytree(quickstart_built[0], work, symlinks=True)  # the shared fixture's folder stays as it is
        manifest = work / "release.yaml"  # what is built; it keeps the version of the first build
        assert yaml.safe_load(manifest.read_text())["version"] == "v1.0"
        names = [a["name"] for a in yaml.safe_load(manifest.read_text())["artifacts"]]
        manifests: dict[str, Path] = {}

        def release(version: str) -> None:
            data = yaml.safe_load(manifest.read_text())
            data["version"] = version
            path = manifests[version] = work / f"release-{version}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
            code, out = cli("release", path, "--endpoint", hub.url, "--json", "--no-verify")
            assert code == 0, out
            assert {t.rsplit("@", 1)[1].split("-")[0] for t in out["tags_created"]} == {version}

        release("v1.0")
        release("v1.1")  # the same build again, under another tag
        corpus_v1, scores_v1 = rows_of(work), scores_of(work)

        # 1. exp_1_110's evaluation: one MT row fewer, the other tasks whole
        sizes = task_sizes()
        limit = sizes["mt_en_eu"] - 1
        assert limit >= max(n for t, n in sizes.items() if t != "mt_en_eu")

        def set_limit(d: dict) -> None:
            stage = next(s for s in d["stages"] if s["name"] == f"eval-{VARIANT}")
            stage["build"]["set"] = {"limit": limit}

        edit_manifest(manifest, set_limit)
        status = build(manifest, f"eval-{VARIANT}")
        assert status.pop(f"eval-{VARIANT}") == "built" and set(status.values()) == {"skipped"}, status

        # 2. one corpus source more: only the corpus is rebuilt
        (work / RAW).write_text("".join(json.dumps({"id": f"{ADDED}-{i}", "text": t}, ensure_ascii=False) + "\n"
                                        for i, t in enumerate(DOCS)), encoding="utf-8")

        def add_source(d: dict) -> None:
            corpus = next(a for a in d["artifacts"] if a["name"] == "corpus")
            corpus["build"]["inputs"]["sources"].append(
                {"path": RAW, "name": ADDED, "license": "cc0-1.0", "attribution": "hubtool tests"})

        edit_manifest(manifest, add_source)
        assert build(manifest, "corpus") == {"corpus": "built"}
        release("v2.0")
        yield Releases(hub.url, manifests, corpus_v1, rows_of(work), scores_v1, scores_of(work), names)
    finally:
        hub.stop()
        bind_endpoint(ENDPOINT, ADMIN_TOKEN)  # the commands above bound this process to the module's hub


def test_diff_reports_the_added_rows_the_added_source_and_the_recomputed_scores(releases):
    code, out = cli("diff", "v1.1", "v2.0", "--manifest", releases.manifests["v2.0"], "--endpoint", releases.hub,
                    "--json", "--show-rows", "1000", "--exit-code")
    assert code == 1 and out["changed"] is True, out  # --exit-code: 1 when something changed, as git diff
    by_name = {a["name"]: a for a in out["artifacts"]}
    assert list(by_name) == releases.names
    assert {n: a["status"] for n, a in by_name.items()} == {
        n: "changed" if n in ("corpus", VARIANT) else "unchanged" for n in releases.names}

    # the corpus: exactly the rows the recipe kept from the added source, per split; nothing removed
    corpus = by_name["corpus"]
    expected_added = {}
    for split in SPLITS:
        old = Counter(map(canonical, releases.corpus_v1[split]))
        new = Counter(map(canonical, releases.corpus_v2[split]))
        assert not old - new  # the recipe kept every earlier row
        expected_added[split] = [json.loads(r) for r in (new - old).elements()]
        assert all(r["source"] == ADDED and r["text"] in DOCS for r in expected_added[split])
    assert 0 < sum(map(len, expected_added.values())) <= len(DOCS)
    assert {r["split"]: r for r in corpus["rows"]} == {
        split: {"config": "default", "split": split, "old_rows": len(releases.corpus_v1[split]),
                "new_rows": len(releases.corpus_v2[split]), "added": len(expected_added[split]), "removed": 0,
                "kept": len(releases.corpus_v1[split])} for split in SPLITS}
    assert Counter((e["split"], e["id"]) for e in corpus["examples_added"]) == Counter(
        (split, r["id"]) for split, rows in expected_added.items() for r in rows)
    assert corpus["examples_removed"] == [] and corpus["schema_changes"] == [] and corpus["card"] == []
    # its config change: the added source (and the input it brings), nothing else
    assert {(c["field"], c["change"]) for c in corpus["provenance"]} == {
        (f"config.sources[{ADDED}]", "added"), (f"inputs[source:{ADDED}]", "added")}
    source = next(c["new"] for c in corpus["provenance"] if c["field"].startswith("config.sources"))
    assert source["name"] == ADDED and source["path"].endswith(Path(RAW).name) and source["license"] == "cc0-1.0"

    # the adapter: the scores the evaluate recipe recomputed, with the deltas of the two results files
    model = by_name[VARIANT]
    assert model["provenance"] == [] and model["files"] == [] and model["card"] == []
    changed = {k for k in releases.scores_v1 if releases.scores_v1[k][0] != releases.scores_v2[k][0]}
    assert set(releases.scores_v2) == set(releases.scores_v1)
    assert changed and {dataset for dataset, _ in changed} == {"mt_en_eu"}  # the one task measured otherwise
    reported = {(m["dataset"], m["metric"]): m for m in model["metrics"]}
    assert set(reported) == changed
    for key in changed:
        (old, old_se), (new, new_se) = releases.scores_v1[key], releases.scores_v2[key]
        m = reported[key]
        assert (m["old"], m["new"], m["old_stderr"], m["new_stderr"]) == (old, new, old_se, new_se)
        assert m["delta"] == pytest.approx(new - old, abs=1e-9)
        # the documented rule: se = sqrt(se_old² + se_new²) (one known stands for both); beyond error when
        # |delta| > 1.96 se; no standard error, no estimate
        known = [s for s in (old_se, new_se) if s]
        if not known:
            assert m["stderr"] is None and m["label"] == "no error estimate", m
        else:
            se = math.hypot(*known) if len(known) == 2 else known[0] * math.sqrt(2)
            assert m["stderr"] == pytest.approx(se)
            assert m["label"] == ("beyond error" if abs(new - old) > 1.96 * se else "within error"), m

    # every other artifact: no row, config, file or score changed
    for name, a in by_name.items():
        if name in ("corpus", VARIANT):
            continue
        assert a["provenance"] == a["files"] == a["metrics"] == a["card"] == a["schema_changes"] == \
            a["data_files_rewritten"] == [], name
        if a["rows_total"] is not None:
            assert a["rows_total"]["added"] == a["rows_total"]["removed"] == 0, name


def test_identical_releases_report_no_change(releases):
    code, out = cli("diff", "v1.0", "v1.1", "--manifest", releases.manifests["v1.1"], "--endpoint", releases.hub,
                    "--json", "--exit-code")
    assert code == 0 and out["changed"] is False and out["schema_version"] == 1, out
    assert {a["name"]: a["status"] for a in out["artifacts"]} == {n: "unchanged" for n in releases.names}
    corpus = next(a for a in out["artifacts"] if a["name"] == "corpus")
    total = sum(map(len, releases.corpus_v1.values()))
    assert corpus["rows_total"] == {"config": "*", "split": "*", "old_rows": total, "new_rows": total, "added": 0,
                                    "removed": 0, "kept": total}
    assert corpus["old"]["revision"] == "v1.0" and corpus["new"]["revision"] == "v1.1"
    assert corpus["old"]["commit"] != corpus["new"]["commit"]  # the cards differ (version); the artifact does not
    assert all(a["metrics"] == [] for a in out["artifacts"])
    code, text = cli("diff", "v1.0", "v1.1", "--manifest", releases.manifests["v1.1"], "--endpoint", releases.hub)
    assert code == 0 and text.rstrip().endswith("no change"), text
