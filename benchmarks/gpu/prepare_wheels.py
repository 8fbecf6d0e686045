"""Download the wheels benchmarks/gpu/train_smoke.py installs on a GPU machine that has no network.

Each distribution in requirements.txt is pinned to the version installed here (the stack hubtool's tests
run on) and fetched as a binary wheel for the GPU machine's Python and platform, without dependencies
(requirements.txt lists them all). Then copy the folder with the repository and run
``python benchmarks/gpu/train_smoke.py --wheels FOLDER``.

    python benchmarks/gpu/prepare_wheels.py --python-version 3.12 --dest .whl
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def pinned_requirements(path: Path) -> list[str]:
    """Each listed distribution at its version installed here; a missing one is an error naming it."""
    names = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    missing = []
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise SystemExit(f"not installed here, so no version to pin: {', '.join(missing)} "
                         "(install hubtool with its dependencies first: pip install -e .)")
    return pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default="3.12", help="The GPU machine's Python (default 3.12).")
    parser.add_argument("--dest", type=Path, default=Path(".whl"), help="Folder for the wheels (default .whl).")
    args = parser.parse_args(argv)
    pins = pinned_requirements(Path(__file__).with_name("requirements.txt"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           args.python_version, "--implementation", "cp", "-d", str(args.dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    return subprocess.run(cmd + pins).returncode


if __name__ == "__main__":
    sys.exit(main())
