"""tests/cpu_load.py, which `make test-busy` runs the suite under: its spinners really run while the command
does, and they are gone afterwards whether the command fails or the run is stopped."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

CPU_LOAD = Path(__file__).with_name("cpu_load.py")

PROBE = """
import os, sys, time
pids = [int(p) for p in os.environ["CPU_LOAD_PIDS"].split(",")]

def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime

while not all(cpu_ticks(p) > 0 for p in pids):  # until every spinner has run (a poll, no deadline)
    time.sleep(0.01)
print(",".join(map(str, pids)), flush=True)
"""


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_spinners_run_with_the_command_and_stop_when_it_fails():
    out = subprocess.run([sys.executable, str(CPU_LOAD), "--procs", "2", "--", sys.executable, "-c",
                          PROBE + "sys.exit(3)"], capture_output=True, text=True, timeout=600)  # net only
    assert out.returncode == 3, out.stderr  # the command's own status
    pids = [int(p) for p in out.stdout.split(",")]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert all(gone(pid) for pid in pids)


def test_spinners_stop_when_the_run_is_terminated():
    proc = subprocess.Popen([sys.executable, str(CPU_LOAD), "--procs", "1", "--", sys.executable, "-c",
                             PROBE + "time.sleep(3600)"], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split(",")]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=600) == 128 + signal.SIGTERM  # timeout: a net only
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert pids and all(gone(pid) for pid in pids)
