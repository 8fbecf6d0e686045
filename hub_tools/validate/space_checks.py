"""Checks of a Space artifact: app file, pinned requirements, README metadata."""
from __future__ import annotations

import re
from pathlib import Path

from hub_tools.artifacts.frontmatter import front_matter
from hub_tools.validate.findings import Finding

SDKS = ("gradio", "docker", "static", "streamlit")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]+\])?==[^=<>~!,\s]+(\s*;.*)?$")


def space_metadata(name: str, card_fields: dict | None) -> dict:
    """The Space README metadata hubtool renders when the folder has no README: card fields over defaults."""
    return {"title": name, "sdk": "gradio", "app_file": "app.py", **(card_fields or {})}


def check_space(folder: Path, artifact: str | None = None, card_fields: dict | None = None) -> tuple[list[Finding], dict]:
    """``card_fields`` (manifest/provenance card) stand in for README metadata until the card is rendered."""
    findings: list[Finding] = []
    readme = folder / "README.md"
    meta: dict = {}
    if not readme.is_file():
        meta = space_metadata(artifact or folder.name, card_fields)
    else:
        try:
            meta = front_matter(readme.read_text(encoding="utf-8")) or {}
        except ValueError as err:
            findings.append(Finding("HT303", str(err), file="README.md", artifact=artifact))
        for key in ("title", "sdk"):
            if not meta.get(key) and not any(f.code == "HT303" for f in findings):
                findings.append(Finding("HT303", f"metadata has no {key!r}", file="README.md", field=key,
                                        artifact=artifact))
        if meta.get("sdk") and meta["sdk"] not in SDKS:
            findings.append(Finding("HT303", f"sdk {meta['sdk']!r} is not one of {', '.join(SDKS)}",
                                    file="README.md", field="sdk", artifact=artifact))
    sdk = meta.get("sdk", "gradio")
    if sdk in ("gradio", "streamlit"):
        app_file = meta.get("app_file", "app.py")
        if not (folder / app_file).is_file():
            findings.append(Finding("HT301", f"app file {app_file} does not exist", file=app_file,
                                    field="app_file", artifact=artifact))
    requirements = folder / "requirements.txt"
    pinned = {}
    if requirements.is_file():
        for lineno, raw in enumerate(requirements.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if not _PINNED.match(line):
                findings.append(Finding("HT302", f"{line!r} is not pinned (name==version)", file="requirements.txt",
                                        line=lineno, artifact=artifact))
            else:
                name, version = line.split("==", 1)
                pinned[name] = version.split(";")[0].strip()
    return findings, {"sdk": sdk, "requirements": pinned, "metadata": meta}
