"""Benchmark: ``hippo backup`` vs ``rclone copy`` (default settings) to the same SeaweedFS S3 server.

Two workloads, both timed as whole processes, each run to a fresh prefix so every run uploads
everything: 12,000 files of up to 16 KiB, and large files of 20 MiB and more. The tools take
turns going first. Prints the median wall time of each tool and the ratio rclone / hippo (above 1:
hippo is faster), the client processes' CPU time, and the machine's load average: run it on a
quiet machine for absolute numbers.

    nice -n 10 python bench/bench_backup.py [--repeats 3]
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "transfer"))
from conftest import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402  (the tests' server, same flags)

import hippo  # noqa: E402
from _timing import timed  # noqa: E402


def make_small_tree(root, count=12_000, max_bytes=16 << 10, seed=1):
    rng = random.Random(seed)
    for i in range(count):
        path = root / f"d{i // 100:03d}" / f"f{i:05d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1, max_bytes)))


def make_large_tree(root, sizes_mib=(20, 24, 32, 48)):
    rng = random.Random(2)
    root.mkdir(parents=True)
    for i, size in enumerate(sizes_mib):
        (root / f"large{i}.bin").write_bytes(rng.randbytes(size << 20))


def timed_with_cpu(command, env):
    """Wall time and CPU time (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = timed(command, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone not found (Debian package rclone)")
    scratch = Path(tempfile.mkdtemp(prefix="hippo-bench-"))
    server = SeaweedServer(scratch)
    server.start()
    try:
        server.client().create_bucket(Bucket="bench")
        # hippo runs as an installed package does, its bytecode cached (pip compiles on install);
        # a shell with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module each run.
        hippo_env = {k: v for k, v in {**os.environ, **server.env}.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(hippo.__file__).parent)],
                       env=hippo_env, check=True)
        rclone_env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # rclone 1.60 refuses it
        rclone_env.update(RCLONE_CONFIG_S_TYPE="s3", RCLONE_CONFIG_S_PROVIDER="Other",
                          RCLONE_CONFIG_S_ENDPOINT=server.endpoint, RCLONE_CONFIG_S_ACCESS_KEY_ID=ACCESS_KEY,
                          RCLONE_CONFIG_S_SECRET_ACCESS_KEY=SECRET_KEY)
        workloads = {"small": scratch / "small", "large": scratch / "large"}
        make_small_tree(workloads["small"])
        make_large_tree(workloads["large"])
        print(f"small: 12000 files, {_size(workloads['small'])}; large: "
              f"{len(list(workloads['large'].iterdir()))} files, {_size(workloads['large'])}")
        print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for name, tree in workloads.items():
            times, cpu = {"hippo": [], "rclone": []}, {"hippo": [], "rclone": []}
            commands = {"hippo": lambda r: [sys.executable, "-m", "hippo", "backup", str(tree),
                                            f"s3://bench/hippo-{name}-{r}", "--quiet"],
                        "rclone": lambda r: ["rclone", "copy", str(tree), f"s:bench/rclone-{name}-{r}"]}
            environments = {"hippo": hippo_env, "rclone": rclone_env}
            for repeat in range(options.repeats):
                # Alternate who goes first: the first writer after a volume fills pays for SeaweedFS
                # growing new volumes.
                order = ("hippo", "rclone") if repeat % 2 == 0 else ("rclone", "hippo")
                for tool in order:
                    elapsed, seconds = timed_with_cpu(commands[tool](repeat), environments[tool])
                    times[tool].append(elapsed)
                    cpu[tool].append(seconds)
            hippo_median = statistics.median(times["hippo"])
            rclone_median = statistics.median(times["rclone"])
            print(f"{name:5s}: hippo backup median {hippo_median:.2f} s, rclone copy median "
                  f"{rclone_median:.2f} s, ratio rclone/hippo {rclone_median / hippo_median:.1f}x "
                  f"(runs hippo {', '.join(f'{t:.2f}' for t in times['hippo'])}; "
                  f"rclone {', '.join(f'{t:.2f}' for t in times['rclone'])})")
            print(f"{name:5s}: client CPU (user+system) median hippo {statistics.median(cpu['hippo']):.2f} s, "
                  f"rclone {statistics.median(cpu['rclone']):.2f} s (the server's CPU not included)")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _size(root):
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return f"{total / 2**20:.0f} MiB"


if __name__ == "__main__":
    main()
