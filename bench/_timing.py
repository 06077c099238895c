"""Whole-process timing shared by the bench scripts (run as ``python bench/bench_X.py``)."""

import subprocess
import time


def timed(command, env=None, cwd=None):
    """Wall time in seconds of one run of ``command``; stops the bench if the command fails."""
    start = time.perf_counter()
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return elapsed
