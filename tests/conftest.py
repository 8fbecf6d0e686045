"""Test bed: one real local hub process on a free loopback port, real Hugging Face clients bound to it.

The environment is set before any Hugging Face library is imported so that every client reads the
local endpoint, an isolated cache, and a token the hub knows.
"""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="hubtool-tests-"))
if not os.environ.get("HUBTOOL_KEEP_TEST_TMP"):  # the hub's data, caches and builds: hundreds of MB per run
    atexit.register(shutil.rmtree, _TMP, True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_TOKEN = "hf_test_admin_0123456789"
ALICE_TOKEN = "hf_test_alice_0123456789"  # member of org "hitz"
BOB_TOKEN = "hf_test_bob_0123456789"
CAROL_TOKEN = "hf_test_carol_0123456789"  # role "read" in org "hitz": may open pull requests, not push
PORT = _free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
HUB_DIR = _TMP / "hub"

for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN_PATH"):
    os.environ.pop(var, None)
os.environ.update({
    "HF_ENDPOINT": ENDPOINT,
    "HF_TOKEN": ADMIN_TOKEN,
    "HF_HOME": str(_TMP / "hf_home"),
    "HUBTOOL_HOME": str(_TMP / "hubtool_home"),
    "HF_HUB_DISABLE_XET": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
})

import pytest  # noqa: E402

from hub_tools.hub.endpoint import bind_endpoint  # noqa: E402
from hub_tools.localhub import server as hubserver  # noqa: E402

USERS_FILE = _TMP / "users.yaml"
USERS_FILE.write_text(
    "users:\n"
    f"  - {{name: hubtool, token: {ADMIN_TOKEN}, admin: true}}\n"
    f"  - {{name: alice, token: {ALICE_TOKEN}, orgs: [hitz]}}\n"
    f"  - {{name: bob, token: {BOB_TOKEN}}}\n"
    f"  - {{name: carol, token: {CAROL_TOKEN}, orgs: [{{name: hitz, role: read}}]}}\n"
)


class HubRunner:
    """The hub process under test: start, stop, restart on the same port and data dir."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir, self.port, self.url = data_dir, port, f"http://127.0.0.1:{port}"
        self.pid: int | None = None

    def start(self) -> None:
        proc = hubserver.start_background(
            self.data_dir, port=self.port,
            extra_args=["--users-file", str(USERS_FILE), "--enable-fault-injection"],
            timeout=600)  # a far safety net: a loaded 2-core machine starts it slowly
        assert proc.url == self.url
        self.pid = proc.pid

    def stop(self) -> None:
        assert hubserver.stop_hub(self.data_dir), "hub was not running"
        self.pid = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def set_faults(self, rules: list[dict]) -> None:
        import httpx

        httpx.post(f"{self.url}/api/_localhub/faults", json={"rules": rules}, trust_env=False).raise_for_status()


@pytest.fixture(scope="session")
def hub() -> HubRunner:
    runner = HubRunner(HUB_DIR, PORT)
    runner.start()
    bind_endpoint(ENDPOINT, ADMIN_TOKEN)
    yield runner
    if hubserver.running_hub(HUB_DIR):
        runner.stop()


@pytest.fixture()
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.url, token=ADMIN_TOKEN)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from hub_tools.samples.tiny_models import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


_counter = iter(range(10**6))


@pytest.fixture()
def repo_name(request) -> str:
    """A unique repo name per test (the hub is shared by the session)."""
    import re

    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:60].strip("-")
    return f"{base}-{next(_counter)}"


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory) -> Path:
    """The sample release (corpus, instructions, preferences, base model, two adapters, Space), built once."""
    from sample_release import build_sample_release

    return build_sample_release(tmp_path_factory.mktemp("release") / "sample")


@pytest.fixture(scope="session")
def quickstart_built(hub, tmp_path_factory) -> tuple[Path, dict]:
    """The quickstart project built by its recipes and released to the session hub once, in a fresh folder
    (tests that need the built project, not the build itself, start from here: a rebuild takes a minute)."""
    import json

    from click.testing import CliRunner

    from hub_tools.cli import main

    work = tmp_path_factory.mktemp("quickstart") / "a"
    result = CliRunner().invoke(main, ["quickstart", "--workdir", str(work), "--endpoint", hub.url, "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    return work, json.loads(result.stdout)


@pytest.fixture()
def release(sample_release, tmp_path) -> Path:
    """A private copy of the sample release that a test may change; returns its release.yaml."""
    import shutil

    dst = tmp_path / "release"
    shutil.copytree(sample_release.parent, dst)
    return dst / "release.yaml"
