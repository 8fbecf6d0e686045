"""The hubtool CLI shell and the endpoint binding (embedded default, Xet and parquet-export switches)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hub_tools import __version__
from hub_tools.cli import main
from hub_tools.localhub import server as hubserver


def _clean_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_ENDPOINT", "HF_TOKEN", "HF_HUB_DISABLE_XET")}
    env.update(HUBTOOL_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"))
    return env


def test_version_and_help():
    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.strip() == f"hubtool, version {__version__}"
    out = runner.invoke(main, ["hub", "serve", "--help"]).output
    assert "--allow-remote" in out and "Examples:" in out


def test_serve_refuses_non_loopback_hosts(tmp_path):
    result = CliRunner().invoke(main, ["hub", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--allow-remote" in result.output
    assert not (tmp_path / "hub.sqlite3").exists()  # nothing was started


def test_loopback_detection():
    assert all(hubserver.is_loopback_host(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))
    assert not any(hubserver.is_loopback_host(h) for h in ("0.0.0.0", "10.0.0.1", "192.168.1.2", "example.org"))


def test_bind_endpoint_switches_clients_in_process(tmp_path):
    code = (
        "import json, datasets.config as dc\n"
        "from huggingface_hub import constants\n"
        "from hub_tools.hub.endpoint import bind_endpoint\n"
        "t = bind_endpoint('http://127.0.0.1:9/', 'hf_x')\n"
        "import huggingface_hub\n"
        "print(json.dumps([t.local, constants.ENDPOINT, constants.HF_HUB_DISABLE_XET, dc.USE_PARQUET_EXPORT,"
        " dc.HF_ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, repr(t), huggingface_hub.hf_api.api.endpoint,"
        " huggingface_hub.hf_file_system.hffs.endpoint, huggingface_hub.HfFileSystem().endpoint]))\n"
    )
    env = _clean_env(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    local, endpoint, xet_off, parquet_export, ds_endpoint, template, shown, *singletons = json.loads(out.stdout)
    assert local and endpoint == ds_endpoint == "http://127.0.0.1:9" and xet_off and parquet_export is False
    # import-time singletons (peft calls huggingface_hub.file_exists) follow the binding too
    assert singletons == ["http://127.0.0.1:9"] * 3
    assert template.startswith("http://127.0.0.1:9/{repo_id}/resolve/")
    assert "hf_x" not in shown  # the token never appears in reprs or logs
    remote = ("from huggingface_hub import constants\nfrom hub_tools.hub.endpoint import bind_endpoint\n"
              "t = bind_endpoint('https://huggingface.co')\nprint(t.local, constants.HF_HUB_DISABLE_XET)\n")
    out = subprocess.run([sys.executable, "-c", remote], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_quickstart_releases_the_sample_on_the_embedded_hub(quickstart_built, tmp_path):
    """No endpoint, no token: the embedded hub is started, the quickstart project published, verified, re-run.
    The project folder is the one the session already built (its stages are skipped: test_quickstart.py
    covers the build itself); what is new here is the hub started on demand."""
    env = _clean_env(tmp_path)
    cmd = [sys.executable, "-m", "hub_tools.cli", "quickstart", "--workdir", str(quickstart_built[0]), "--json"]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        release = result["release"]  # the quickstart project: 8 artifacts, each built by its recipe
        assert result["verified"] is True and release["commits"] == 8 and len(release["tags_created"]) == 8
        assert "using the local staging hub" in result["note"] and "started now" in result["note"]
        assert result["endpoint"].startswith("http://127.0.0.1:")
        assert (tmp_path / "home" / "localhub" / "admin-token").stat().st_mode & 0o777 == 0o600
        token = (tmp_path / "home" / "localhub" / "admin-token").read_text().strip()
        assert token not in out.stdout + out.stderr
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        second = json.loads(again.stdout)
        assert "already running" in second["note"] and second["release"]["commits"] == 0 and second["verified"]
        status = subprocess.run([sys.executable, "-m", "hub_tools.cli", "hub", "status", "--json"], env=env,
                                capture_output=True, text=True)
        assert status.returncode == 0 and json.loads(status.stdout)["url"] == result["endpoint"]
    finally:
        hubserver.stop_hub(tmp_path / "home" / "localhub")
    down = subprocess.run([sys.executable, "-m", "hub_tools.cli", "hub", "status"], env=env,
                          capture_output=True, text=True)
    assert down.returncode == 1 and "not running" in down.stdout
