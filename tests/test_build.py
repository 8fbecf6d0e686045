"""`hubtool build`: recipes run in dependency order from one manifest; unchanged stages are skipped; a failed
stage is named and the next run resumes there; lineage names inputs by Hub id and release tag; the same
inputs give byte-identical artifacts in another folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hub_tools.artifacts.manifest import load_manifest
from hub_tools.artifacts.provenance import folder_identity, provenance_identity
from hub_tools.cli import main
from hub_tools.errors import UsageProblem
from hub_tools.pipelines.build import BuildFailed, run_build

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "recipes" / "corpus" / "sample"
pytestmark = pytest.mark.slow


def write_project(folder: Path, sources=("eu_wiki.jsonl.gz", "eu_news.txt"), base_set: dict | None = None) -> Path:
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    (folder / "configs").mkdir(exist_ok=True)
    for name in ("eu_wiki.jsonl.gz", "eu_news.txt", "eu_books.parquet"):
        shutil.copyfile(RAW / name, folder / "raw" / name)
    shutil.copyfile(ROOT / "recipes" / "quickstart" / "configs" / "corpus.yaml", folder / "configs" / "corpus.yaml")
    (folder / "configs" / "base.yaml").write_text("steps: 2\nbatch_size: 2\nseq_len: 16\nhidden_size: 16\n")
    manifest = {
        "namespace": "buildtest", "version": "v1.0", "languages": ["eu"], "license": "apache-2.0",
        "artifacts": [
            {"name": "corpus", "kind": "corpus", "path": "artifacts/corpus", "repo": "corpus",
             "build": {"recipe": "corpus", "config": "configs/corpus.yaml",
                       "inputs": {"sources": [{"path": f"raw/{s}", "name": s.split(".")[0]} for s in sources]}}},
            {"name": "base", "kind": "model", "path": "artifacts/base", "repo": "tiny-base",
             "build": {"recipe": "tiny-base", "config": "configs/base.yaml", "inputs": {"corpus": "corpus"},
                       "set": base_set or {}}},
        ]}
    path = folder / "release.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def statuses(result) -> dict[str, str]:
    return {s.name: s.status for s in result.stages}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A project built once (corpus + toy base); tests copy it, build state included."""
    path = write_project(tmp_path_factory.mktemp("built") / "p")
    assert statuses(run_build(load_manifest(path))) == {"corpus": "built", "base": "built"}
    return path.parent


def copy_project(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "p")
    return tmp_path / "p" / "release.yaml"


def test_unchanged_stages_are_skipped_and_a_new_source_rebuilds_downstream(built, tmp_path):
    path = copy_project(built, tmp_path)
    assert statuses(run_build(load_manifest(path))) == {"corpus": "skipped", "base": "skipped"}
    before = json.loads((path.parent / "artifacts" / "base" / "hubtool.json").read_text())

    write_project(path.parent, sources=("eu_wiki.jsonl.gz", "eu_news.txt", "eu_books.parquet"))  # one source more
    result = run_build(load_manifest(path))
    assert statuses(result) == {"corpus": "built", "base": "built"}
    corpus = json.loads((path.parent / "artifacts" / "corpus" / "hubtool.json").read_text())
    assert [i["ref"] for i in corpus["inputs"]] == ["raw/eu_wiki.jsonl.gz", "raw/eu_news.txt", "raw/eu_books.parquet"]
    after = json.loads((path.parent / "artifacts" / "base" / "hubtool.json").read_text())
    assert after["build"]["fingerprint"] != before["build"]["fingerprint"]

    write_project(path.parent, sources=("eu_wiki.jsonl.gz", "eu_news.txt", "eu_books.parquet"), base_set={"steps": 3})
    assert statuses(run_build(load_manifest(path))) == {"corpus": "skipped", "base": "built"}  # only the config changed


def test_lineage_names_inputs_by_hub_id_and_release_tag(built):
    base = json.loads((built / "artifacts" / "base" / "hubtool.json").read_text())
    corpus_input = next(i for i in base["inputs"] if i["name"] == "corpus")
    assert corpus_input["ref"] == "buildtest/corpus" and corpus_input["revision"] == "v1.0"
    assert corpus_input["sha256"]  # the corpus folder's content fingerprint (as the recipe read it)
    assert base["source_datasets"] == [{"id": "buildtest/corpus", "revision": "v1.0"}]
    assert base["build"]["stage"] == "base" and base["build"]["recipe"] == "tiny-base"
    assert base["build"]["config"] == "configs/base.yaml" and len(base["build"]["fingerprint"]) == 64
    assert "toy stand-in" in base["card"]["description"]
    text = (built / "artifacts" / "base" / "hubtool.json").read_text() + \
        (built / "artifacts" / "corpus" / "hubtool.json").read_text()
    assert str(built) not in text and '"/' not in text  # nothing absolute recorded


def test_a_failed_stage_is_named_and_the_next_run_resumes_there(built, tmp_path):
    path = copy_project(built, tmp_path)
    (path.parent / "configs" / "base.yaml").write_text("steps: 2\nsplit: nope\n")  # the corpus has no such split
    with pytest.raises(BuildFailed) as err:
        run_build(load_manifest(path))
    assert err.value.stage == "base" and "no `nope` split" in str(err.value)
    assert statuses(err.value.result) == {"corpus": "skipped", "base": "failed"}
    state = json.loads((path.parent / ".hubtool" / "build.json").read_text())
    assert state["artifacts/base"]["status"] == "failed" and state["artifacts/corpus"]["status"] == "built"
    result = CliRunner().invoke(main, ["build", str(path)])
    assert result.exit_code == 1 and "stage base failed" in result.output and "run the build again" in result.output

    (path.parent / "configs" / "base.yaml").write_text("steps: 2\nbatch_size: 2\nseq_len: 16\nhidden_size: 16\n")
    result = CliRunner().invoke(main, ["build", str(path), "--json"])
    out = json.loads(result.stdout)
    assert result.exit_code == 0 and out["built"] == ["base"] and out["skipped"] == ["corpus"]


def test_the_same_inputs_give_byte_identical_artifacts_in_another_folder(built, tmp_path):
    path = write_project(tmp_path / "elsewhere")
    run_build(load_manifest(path))
    for name in ("corpus", "base"):
        a, b = built / "artifacts" / name, path.parent / "artifacts" / name
        files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
        for rel in files:
            if rel != "hubtool.json":
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), f"{name}/{rel}"
        pa, pb = (json.loads((x / "hubtool.json").read_text()) for x in (a, b))
        assert provenance_identity(pa) == provenance_identity(pb)  # only run-time facts may differ
        assert folder_identity(a) == folder_identity(b)


def test_manifest_mistakes_are_usage_errors_naming_the_line(tmp_path):
    path = write_project(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["artifacts"][1]["build"]["inputs"] = {"corpus": "nope"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UsageProblem, match="names 'nope', which is no artifact or stage") as err:
        run_build(load_manifest(path))
    assert "release.yaml:" in err.value.where
    data["artifacts"][1]["build"]["inputs"] = {"corpora": "corpus"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UsageProblem, match="has no input 'corpora'"):
        run_build(load_manifest(path))
    data["artifacts"][1]["build"]["inputs"] = {"corpus": "corpus"}
    data["artifacts"][0]["build"]["inputs"]["sources"] = [{"artifact": "base"}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UsageProblem, match="cycle"):
        run_build(load_manifest(path))


def test_release_build_builds_then_publishes_and_a_rebuild_elsewhere_changes_nothing(built, hub, api, tmp_path):
    path = copy_project(built, tmp_path)
    result = CliRunner().invoke(main, ["release", str(path), "--build", "--endpoint", hub.url, "--json"])
    out = json.loads(result.stdout)
    assert result.exit_code == 0 and out["verified"] and out["commits"] == 2, result.output[-2000:]
    assert {t.name for t in api.list_repo_refs("buildtest/tiny-base").tags} == {"v1.0"}
    elsewhere = write_project(tmp_path / "elsewhere")  # rebuilt from scratch: identical, so nothing to commit
    result = CliRunner().invoke(main, ["release", str(elsewhere), "--build", "--endpoint", hub.url, "--json"])
    out = json.loads(result.stdout)
    assert result.exit_code == 0 and out["commits"] == 0 and out["verified"], result.output[-2000:]
