"""The test bed cleans up after itself: a pytest session's hub data, caches and builds (hundreds of MB for the
whole suite) are removed when it ends, so repeated runs do not fill the temporary folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_session_removes_its_temporary_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HUBTOOL_KEEP_TEST_TMP"} | {"TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_localhub_api.py::test_whoami"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout  # the session ran, with its hub, under this TMPDIR
    assert not list(tmp_path.glob("hubtool-tests-*"))
    kept = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_localhub_api.py::test_whoami"], cwd=ROOT,
                          env=env | {"HUBTOOL_KEEP_TEST_TMP": "1"}, capture_output=True, text=True, timeout=600)
    assert kept.returncode == 0 and [p.name[:14] for p in tmp_path.glob("hubtool-tests-*")] == ["hubtool-tests-"]
