"""Run a command while every CPU core is kept busy by another job (`make test-busy`).

    python tests/cpu_load.py [--procs N] -- COMMAND [ARGS...]

Starts N (default: every core) processes that spin in a loop at normal priority, runs COMMAND, then stops
them, whatever happened to COMMAND (failure, Ctrl-C, SIGTERM); its exit status is COMMAND's. Each spinner
also dies with this process if it is killed outright (PR_SET_PDEATHSIG). The spinners' pids are given to
COMMAND in CPU_LOAD_PIDS (comma-separated). The suite's tests bound work, not wall time, so they must
pass like this; this is how that is checked.
"""
from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def spin() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the finally below still stops the spinners
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the command; the parent stops us
    n = 0
    while True:
        n += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="spinning processes (default: cores)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    ctx = multiprocessing.get_context("fork")
    spinners = [ctx.Process(target=spin, daemon=True) for _ in range(max(1, args.procs))]
    for p in spinners:
        p.start()

    def stop(signum, _frame):  # SIGTERM: the finally below stops the spinners
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    env = {**os.environ, "CPU_LOAD_PIDS": ",".join(str(p.pid) for p in spinners)}
    print(f"cpu_load: {len(spinners)} spinning process(es) while running: {' '.join(command)}", file=sys.stderr)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.join()


if __name__ == "__main__":
    sys.exit(main())
