"""Binding this process's Hugging Face clients to one Hub endpoint: the real Hub or a local hub.

``huggingface_hub``, ``datasets``, ``transformers`` and ``peft`` read the endpoint from module-level
constants captured at import time; :func:`bind_endpoint` updates them (and the environment, for
child processes) so that everything in the process talks to the same Hub. For a loopback endpoint it
also turns off what a local hub cannot serve: Xet uploads and the datasets-server parquet export.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import HfApi, constants, get_token

from hub_tools.localhub.server import admin_token, default_data_dir, ensure_hub, is_loopback_host

log = logging.getLogger(__name__)
HF_HUB_URL = "https://huggingface.co"


@dataclass(frozen=True)
class HubTarget:
    """Where hubtool publishes: the endpoint URL, the token to use (never printed), and whether it is local."""

    endpoint: str
    token: str | None
    local: bool
    note: str = ""

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token, library_name="hubtool")

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"HubTarget(endpoint={self.endpoint!r}, local={self.local}, token={'set' if self.token else None})"

    __str__ = __repr__


def is_local_endpoint(endpoint: str) -> bool:
    return is_loopback_host(urlsplit(endpoint).hostname or "")


def bind_endpoint(endpoint: str, token: str | None = None) -> HubTarget:
    """Point every Hub client in this process (and child processes) at ``endpoint``."""
    endpoint = endpoint.rstrip("/")
    local = is_local_endpoint(endpoint)
    os.environ["HF_ENDPOINT"] = endpoint
    constants.ENDPOINT = endpoint
    constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    # Module-level singletons built at import (behind huggingface_hub.file_exists, hf_file_system.hffs, ...)
    # keep the endpoint of that moment; peft calls huggingface_hub.file_exists.
    from huggingface_hub import hf_api, hf_file_system

    hf_api.api.endpoint = endpoint
    hf_file_system.hffs.endpoint = endpoint
    hf_file_system.hffs._api.endpoint = endpoint
    hf_file_system.hffs.dircache.clear()
    if local:
        # Xet needs Xet storage (the local hub has none); is_xet_available() re-reads this constant.
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        constants.HF_HUB_DISABLE_XET = True
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import datasets.config as dconfig
    except ImportError:  # pragma: no cover - datasets is a dependency
        dconfig = None
    if dconfig is not None:
        dconfig.HF_ENDPOINT = endpoint
        dconfig.HUB_DATASETS_URL = endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
        if local:
            # Else datasets asks datasets-server.<host>: a DNS lookup that leaves the machine.
            dconfig.USE_PARQUET_EXPORT = False
    if token is not None:
        os.environ["HF_TOKEN"] = token
    return HubTarget(endpoint, token if token is not None else get_token(), local)


def resolve_target(endpoint: str | None = None, token: str | None = None,
                   data_dir: str | Path | None = None, rehearsal: bool = False) -> HubTarget:
    """The Hub a command talks to: the one rule every hubtool command follows. In this order:
    ``--endpoint``; the ``HF_ENDPOINT`` environment variable; the real Hub when a token is configured
    (``HF_TOKEN`` or ``hf auth login``); otherwise the embedded local staging hub, started in the
    background if needed. A ``rehearsal`` (the quickstart, which publishes sample data) skips the middle
    two: ``--endpoint`` or the local hub. Binds the process to the choice; ``note`` says which and why."""
    chosen, why = (endpoint, "--endpoint") if endpoint else (None, "")
    if not chosen and not rehearsal and os.environ.get("HF_ENDPOINT"):
        chosen, why = os.environ["HF_ENDPOINT"], "HF_ENDPOINT"
    if chosen:
        target = bind_endpoint(chosen, token)
        if target.local and target.token is None:
            # A hub started by hubtool with this data dir: use its admin token.
            local_token = admin_token(Path(data_dir or default_data_dir()), create=False)
            if local_token:
                target = bind_endpoint(chosen, local_token)
        return HubTarget(target.endpoint, target.token, target.local, f"hub: {target.endpoint} (from {why})")
    if not rehearsal and (token or get_token()):
        target = bind_endpoint(HF_HUB_URL, token)
        return HubTarget(target.endpoint, target.token, False, f"hub: {HF_HUB_URL} (a Hub token is configured)")
    hub, started = ensure_hub(data_dir)
    target = bind_endpoint(hub.url, admin_token(hub.data_dir))
    reason = "a rehearsal publishes to the local hub unless --endpoint says otherwise" if rehearsal else \
        "no endpoint or token configured"
    note = (f"hub: using the local staging hub at {hub.url} ({reason}; "
            f"{'started now' if started else 'already running'}; data in {hub.data_dir})")
    log.debug(note)
    return HubTarget(target.endpoint, target.token, True, note)


def bind_for_lookups(endpoint: str | None = None, data_dir: str | Path | None = None) -> HubTarget | None:
    """For commands that only *read* from a Hub when they can (validate): the configured endpoint, the
    real Hub with a token, or a local hub already running; else Hub lookups are switched off (offline)
    rather than sent to huggingface.co unasked. Never starts a server."""
    from hub_tools.localhub.server import running_hub

    if endpoint or os.environ.get("HF_ENDPOINT") or get_token():
        return resolve_target(endpoint, data_dir=data_dir)
    hub = running_hub(data_dir)
    if hub is not None:
        return bind_endpoint(hub.url, admin_token(hub.data_dir, create=False))
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    return None
