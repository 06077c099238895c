"""Benchmark: ``hippo backup`` to a local folder (the LocalBackend, which fsyncs every object)
against ``rclone copy`` of the same tree to a local folder, alternating, in one run.

Two workloads, timed as whole processes, each run to a fresh folder so every run writes
everything: 2,000 files of up to 16 KiB (collated into a few zips), and 40 files of 5 MiB (one
object, so one fsync, each). Prints the median wall time of each and the ratio rclone / hippo
(above 1: hippo is faster). rclone writes each file as it is, without fsync or manifest; without
rclone on PATH only hippo is timed. The scratch folder must be on
a real disk (not tmpfs, where fsync costs nothing): ``--dir`` chooses it.

    nice -n 10 python bench/bench_backup_local.py [--repeats 5] [--dir /var/tmp]
"""

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import timed


def make_tree(root, count, min_bytes, max_bytes, seed):
    rng = random.Random(seed)
    for i in range(count):
        path = root / f"d{i // 100:03d}" / f"f{i:05d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(min_bytes, max_bytes)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to make the trees and backups (default: the temp dir)")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hippo-bench-local-", dir=options.dir))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    try:
        workloads = {"small": scratch / "small", "large": scratch / "large"}
        make_tree(workloads["small"], 2000, 1, 16 << 10, seed=1)
        make_tree(workloads["large"], 40, 5 << 20, 5 << 20, seed=2)
        print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        rclone = shutil.which("rclone")
        for name, tree in workloads.items():
            times = {"hippo": [], "rclone": []}
            for repeat in range(options.repeats):
                commands = {"hippo": [sys.executable, "-m", "hippo", "backup", tree, "DEST", "--quiet"]}
                if rclone:
                    commands["rclone"] = [rclone, "copy", tree, "DEST", "--links"]
                for tool, command in commands.items():
                    dest = scratch / f"{tool}-{name}-{repeat}"
                    times[tool].append(timed([dest if part == "DEST" else part for part in command], env))
                    shutil.rmtree(dest)
            hippo = statistics.median(times["hippo"])
            line = f"{name:5s}: hippo backup median {hippo:.3f} s (runs {', '.join(f'{t:.3f}' for t in times['hippo'])})"
            if rclone:
                peer = statistics.median(times["rclone"])
                line += f"; rclone copy median {peer:.3f} s; ratio rclone / hippo {peer / hippo:.2f}"
            print(line)
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
