"""Options shared by several commands, declared once (STYLE.md point 7), and the one place where a command
learns which Hub it talks to."""
from __future__ import annotations

from pathlib import Path

import click

from hub_tools.cli import output

ENDPOINT_HELP = ("Hub endpoint. Default: HF_ENDPOINT; else the Hub if a token is configured; else the local "
                 "staging hub (started if needed).")

endpoint_option = click.option("--endpoint", default=None, metavar="URL", help=ENDPOINT_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for scripts).")
hub_data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The local hub's data dir. [default: $HUBTOOL_HOME/localhub or ~/.cache/hubtool/localhub]")


def hub_target(endpoint: str | None, rehearsal: bool = False):
    """Resolve (and bind this process to) the Hub by the rule of ``hub_tools.hub.endpoint.resolve_target``,
    and say which one it is on stderr."""
    from hub_tools.hub.endpoint import resolve_target

    target = resolve_target(endpoint, rehearsal=rehearsal)
    output.status(target.note)
    return target


def is_hub_ref(ref: str | None) -> bool:
    """A model/dataset reference that names a Hub repo rather than a local folder or file."""
    return bool(ref) and not Path(ref).expanduser().exists()


def hub_target_if_needed(endpoint: str | None, *refs: str | None):
    """Bind to the Hub only when one of ``refs`` names a Hub repo (a local run never starts a hub)."""
    return hub_target(endpoint) if any(is_hub_ref(r) for r in refs) else None


def require_on_hub(target, repo_type: str, *repo_ids: str | None) -> None:
    """Stop before any work when a repo a command needs is not on the chosen Hub (a clear error instead of a
    failure deep inside a library or a worker process)."""
    from hub_tools.errors import UsageProblem

    api = target.api()
    for repo_id in filter(None, repo_ids):
        if not api.repo_exists(repo_id, repo_type=repo_type):
            raise UsageProblem(f"{repo_type} repo {repo_id} is not on {target.endpoint} (or the token may not "
                               "read it)", fix="check the repo id, or point at another Hub with --endpoint")
