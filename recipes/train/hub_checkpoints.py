"""Checkpoints on the Hub: the Trainer pushes each checkpoint to ``last-checkpoint/`` on a branch named
after the variant (``hub_strategy="checkpoint"``); a resumed run on another machine downloads it back."""
from __future__ import annotations

from pathlib import Path

LAST = "last-checkpoint"


def ensure_branch(repo: str, branch: str, private: bool) -> None:
    """The checkpoint repo and the variant's branch exist before the first push (the Trainer creates the
    repo, not the branch)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, private=private, exist_ok=True)
    api.create_branch(repo, branch=branch, exist_ok=True)


def download_last_checkpoint(repo: str, branch: str, dest: Path) -> str | None:
    """The branch's ``last-checkpoint/`` as a local folder ``dest/checkpoint-<step>``, or None when the
    branch has none yet."""
    import json

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RevisionNotFoundError

    api = HfApi()
    try:
        files = api.list_repo_files(repo, revision=branch)
    except RevisionNotFoundError:
        return None
    if f"{LAST}/trainer_state.json" not in files:
        return None
    snapshot = Path(snapshot_download(repo, revision=branch, allow_patterns=[f"{LAST}/*"],
                                      local_dir=dest / "_hub_download"))
    step = json.loads((snapshot / LAST / "trainer_state.json").read_text())["global_step"]
    target = dest / f"checkpoint-{step}"
    if target.exists():
        import shutil

        shutil.rmtree(target)
    (snapshot / LAST).rename(target)
    return str(target)
