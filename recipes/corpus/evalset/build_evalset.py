"""Rebuild the bundled real-text evaluation set from its upstream files (see README.md here for every
source, its licence and commit). Not run by the recipe or the tests: the built files are committed.

    python -m recipes.corpus.evalset.build_evalset --mirrors DIR

DIR holds a git checkout per upstream repository, named ``owner+name`` (the README lists them); files are
read at the recorded commits with ``git show``. Output: ``*.jsonl.gz`` inputs (id, text) and ``TRUTH.json``
(per id: label keep/drop/either, kind, language, duplicate group), plus the thresholds reference sample.
"""
from __future__ import annotations

import argparse
import gzip
import html
import json
import random
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPSTREAM = {  # repo -> commit (also in README.md)
    "UniversalDependencies/UD_Basque-BDT": "b103756e7d3dca0130807308c73eb170fdba5394",
    "sidisinsane/throwaway-repo": "08de7ce558c16c1ad54128747c347366f2f46db9",
    "AOSC-Tracking/dpkg": "a45d7abfa0284ce82fdff68ed7f4d982eac12c50",
    "A-Archives-and-Forks/bleachbit": "d81e0b93a62c5d51f7c41edcfd8b11bb18543b94",
    "clocasto/HaikuGenerator": "936af28fdf47e9a50abf52183a04959df01daf17",
    "fernandocruzp/LectorQuijote": "199d3a208ad453d86ff2583f2364ac4addbbb250",
    "thaddeus002/L_heureux_naufrage": "517a323de92ccf61a08a17c88067efb95b728857",
}


def show(mirrors: Path, repo: str, path: str) -> str:
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    out = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{UPSTREAM[repo]}:{path}"],
                         capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def conllu_sentences(text: str) -> list[str]:
    return [line[len("# text = "):].strip() for line in text.splitlines() if line.startswith("# text = ")]


def group(items: list[str], rng: random.Random, low: int, high: int, sep: str) -> list[str]:
    """Consecutive items joined into documents of low..high items."""
    docs, i = [], 0
    while i < len(items):
        n = rng.randint(low, high)
        chunk = items[i:i + n]
        i += n
        if len(chunk) >= low:
            docs.append(sep.join(chunk))
    return docs


def by_chars(paragraphs: list[str], size: int, sep: str = "\n\n") -> list[str]:
    docs, cur = [], []
    for p in paragraphs:
        cur.append(p)
        if sum(len(x) for x in cur) >= size:
            docs.append(sep.join(cur))
            cur = []
    if cur:
        docs.append(sep.join(cur))
    return docs


def udhr_paragraphs(md: str) -> list[str]:
    body = md.split("</figure>", 1)[-1]  # the figure repeats the first paragraphs
    parts = re.findall(r"<(p|li)>\s*(.*?)\s*</\1>", body, flags=re.S)
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", t))).strip() for _, t in parts if t.strip()]


def po_entries(text: str) -> tuple[str, list[str]]:
    """(header comment block, msgstr texts) of a .po file."""
    header = text.split('msgid ""', 1)[0]
    strings, cur, in_str = [], [], False
    for line in text.splitlines():
        if line.startswith("msgstr"):
            in_str, cur = True, [line.split(" ", 1)[1] if " " in line else '""']
        elif in_str and line.startswith('"'):
            cur.append(line)
        else:
            if in_str:
                value = "".join(json.loads(s) for s in cur if s.startswith('"'))
                if value and not value.startswith("Project-Id-Version"):
                    strings.append(value.strip())
            in_str = False
    return header, strings


def gutenberg_body(text: str) -> list[str]:
    body = re.split(r"\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*\n", text, maxsplit=1)[-1]
    body = re.split(r"\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG", body, maxsplit=1)[0]
    paras = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", body)]
    return [p for p in paras if len(p) > 200]


def near_copy(text: str, rng: random.Random) -> str:
    """Two word-level edits: one word dropped, one word repeated (a sloppy re-post)."""
    words = text.split(" ")
    drop = rng.randrange(1, len(words) - 1)
    del words[drop]
    rep = rng.randrange(1, len(words) - 1)
    words.insert(rep, words[rep])
    return " ".join(words)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for r in rows:
            f.write((json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n").encode())


def build(mirrors: Path, out: Path) -> dict:
    rng = random.Random(0)
    truth: dict[str, dict] = {}
    files: dict[str, list[dict]] = {}

    def add(file: str, doc_id: str, text: str, label: str, kind: str, lang: str) -> None:
        files.setdefault(file, []).append({"id": doc_id, "text": text})
        truth[doc_id] = {"label": label, "kind": kind, "language": lang, "file": file}

    bdt = "UniversalDependencies/UD_Basque-BDT"
    for i, doc in enumerate(group(conllu_sentences(show(mirrors, bdt, "eu_bdt-ud-test.conllu")), rng, 6, 12, " ")):
        add("eu_treebank.jsonl.gz", f"bdt-test-{i:04d}", doc, "keep", "treebank", "eu")
    udhr = "sidisinsane/throwaway-repo"
    listing = subprocess.run(["git", "--git-dir", str(mirrors / udhr.replace("/", "+") / "repo"), "ls-tree",
                              "--name-only", UPSTREAM[udhr], "src/content/udhr/"], capture_output=True, text=True,
                             check=True).stdout.split()
    for path in sorted(listing):
        code = path.rsplit("udhr-", 1)[-1].removesuffix(".md")
        if code == "und":
            continue
        paras = udhr_paragraphs(show(mirrors, udhr, path))
        docs = by_chars(paras[8:], 900)  # skip the preamble: the articles read like ordinary prose
        picked = docs if code == "eu" else docs[:2]
        for j, doc in enumerate(picked):
            add("udhr.jsonl.gz", f"udhr-{code}-{j}", doc, "keep" if code == "eu" else "drop", "udhr", code)
    for repo, path, name in (("AOSC-Tracking/dpkg", "po/eu.po", "dpkg"),
                             ("A-Archives-and-Forks/bleachbit", "po/eu.po", "bleachbit")):
        text = show(mirrors, repo, path)
        header, strings = po_entries(text)
        add("eu_software_po.jsonl.gz", f"po-{name}-header", header.strip(), "drop", "po-header", "en")
        for j, doc in enumerate(group(strings, rng, 8, 16, "\n")[:40]):
            add("eu_software_po.jsonl.gz", f"po-{name}-msgstr-{j:03d}", doc, "either", "po-msgstr", "eu")
        lines = text.splitlines()
        for j in range(8):
            start = 200 + j * 400
            add("eu_software_po.jsonl.gz", f"po-{name}-raw-{j}", "\n".join(lines[start:start + 40]), "drop",
                "po-raw", "mixed")
    books = [("clocasto/HaikuGenerator", "pg1342.txt", "en", 40), ("clocasto/HaikuGenerator", "pg11.txt", "en", 15),
             ("fernandocruzp/LectorQuijote", "pg2000.txt", "es", 50)]
    for repo, path, lang, n in books:
        paras = gutenberg_body(show(mirrors, repo, path))
        docs = by_chars(paras[len(paras) // 4:], 1000)[:n]
        for j, doc in enumerate(docs):
            add("books.jsonl.gz", f"book-{path.split('.')[0]}-{j:03d}", doc, "drop", "book", lang)
    play = "thaddeus002/L_heureux_naufrage"
    for act in ("acte_I.md", "acte_II.md"):
        paras = [re.sub(r"\s+", " ", p).strip() for p in show(mirrors, play, act).split("\n\n")]
        for j, doc in enumerate(by_chars([p for p in paras if p and not p.startswith("#")], 1000)[:15]):
            add("books.jsonl.gz", f"play-{act.split('.')[0]}-{j:02d}", doc, "drop", "play", "fr")
    licence = show(mirrors, "clocasto/HaikuGenerator", "pg11.txt").split("*** END OF", 1)[-1]
    for j, doc in enumerate(by_chars([p.strip() for p in licence.split("\n\n") if p.strip()], 1500)[:6]):
        add("licences_junk.jsonl.gz", f"gutenberg-licence-{j}", doc, "drop", "licence", "en")
    for repo, name in (("AOSC-Tracking/dpkg", "gpl2"), ("A-Archives-and-Forks/bleachbit", "gpl3")):
        paras = [p.strip() for p in show(mirrors, repo, "COPYING").split("\n\n") if p.strip()]
        for j, doc in enumerate(by_chars(paras, 1500)):
            add("licences_junk.jsonl.gz", f"{name}-{j:02d}", doc, "drop", "licence", "en")
    import sklearn

    data = Path(sklearn.__file__).parent / "datasets" / "data"
    for name in ("wine_data.csv", "breast_cancer.csv", "iris.csv"):
        lines = (data / name).read_text().splitlines()
        for j in range(0, min(len(lines), 160), 40):
            add("licences_junk.jsonl.gz", f"csv-{name.split('.')[0]}-{j // 40}", "\n".join(lines[j:j + 40]), "drop",
                "csv", "none")
    keep_ids = sorted(k for k, v in truth.items() if v["label"] == "keep")
    originals = {r["id"]: r["text"] for rows in files.values() for r in rows}
    chosen = rng.sample(keep_ids, 60)
    for j, orig in enumerate(chosen[:30]):
        add("planted_duplicates.jsonl.gz", f"dup-exact-{j:02d}", originals[orig], "keep", "exact-duplicate", "eu")
        truth[f"dup-exact-{j:02d}"]["duplicate_of"] = orig
    for j, orig in enumerate(chosen[30:]):
        add("planted_duplicates.jsonl.gz", f"dup-near-{j:02d}", near_copy(originals[orig], rng), "keep",
            "near-duplicate", "eu")
        truth[f"dup-near-{j:02d}"]["duplicate_of"] = orig
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        write_jsonl(out / name, rows)
    (out / "TRUTH.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    ref_rng = random.Random(1)
    ref = group(conllu_sentences(show(mirrors, bdt, "eu_bdt-ud-dev.conllu")), ref_rng, 6, 12, " ")
    (out / "reference").mkdir(exist_ok=True)
    write_jsonl(out / "reference" / "eu_bdt_dev.jsonl.gz",
                [{"id": f"bdt-dev-{i:04d}", "text": t} for i, t in enumerate(ref)])
    counts: dict[str, int] = {}
    for v in truth.values():
        counts[f"{v['label']}:{v['kind']}"] = counts.get(f"{v['label']}:{v['kind']}", 0) + 1
    return {"documents": len(truth), "by_label_kind": dict(sorted(counts.items())), "reference_documents": len(ref)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    print(json.dumps(build(args.mirrors, args.out), indent=1))


if __name__ == "__main__":
    main()
