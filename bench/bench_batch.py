"""Benchmark: ``hippo batch classify --slurm`` vs one Slurm array task per source, on a real Slurm.

The peer is how per-source tools are run on clusters: a job array with one task per image, each
running the classifier on its one image into its own file (so nothing collides), concatenated at
the end. ``hippo batch`` runs one task per shard (here one per CPU of the node) and merges. Both
classify the same real FIRST images with the same model on the same single-node Slurm, which
this script starts as the tests do (root, Debian slurmctld/slurmd/munge). They take turns going
first. Prints the median wall time of each and the ratio per-source / hippo (above 1: hippo is
faster), with the load average: the machine may be shared.

    nice -n 10 python bench/bench_batch.py [--images 24] [--repeats 3] [--model DIR]
"""

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "batch"))
from conftest import SlurmCluster  # noqa: E402  (the tests' single-node Slurm, same slurm.conf)
from _timing import timed  # noqa: E402

DATA = Path(os.environ.get("HIPPO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def per_source_array(images, model_arguments, work, env):
    """One array task per image, each writing its own CSV; then the CSVs joined in order."""
    outputs = work / "per-source"
    outputs.mkdir()
    listing = work / "images.txt"
    listing.write_text("".join(f"{image}\n" for image in images))
    model = " ".join(shlex.quote(a) for a in model_arguments)
    script = work / "per-source.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --array=0-{len(images) - 1}\n#SBATCH --mem=1G\n#SBATCH --output={outputs}/%a.log\n"
        f'image=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {listing})\n'
        f'{shlex.quote(sys.executable)} -m hippo classify --quiet "$image" {model} '
        f'-o {outputs}/$SLURM_ARRAY_TASK_ID.csv\n')
    start = time.perf_counter()
    subprocess.run(["sbatch", "--wait", "--quiet", str(script)], env=env, check=True)
    parts = [(outputs / f"{i}.csv").read_text().splitlines() for i in range(len(images))]
    (work / "per-source.csv").write_text("\n".join([parts[0][0]] + [line for p in parts for line in p[1:]]) + "\n")
    return time.perf_counter() - start


def hippo_batch(images, model_arguments, work, env):
    return timed([sys.executable, "-m", "hippo", "batch", "classify", *images, *model_arguments,
                  "-o", work / "hippo.csv", "--slurm", "--array-size", os.cpu_count(), "--mem", "1G",
                  "--scratch", work / "scratch", "--wait", "--quiet"], env=env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    options = parser.parse_args()
    images = sorted((DATA / "first_mirabest").glob("*.fits.fz"))[:options.images]
    if len(images) < options.images:
        raise SystemExit(f"need {options.images} FIRST images in {DATA / 'first_mirabest'}")
    model_arguments = ["--model", str(Path(options.model).resolve())] if options.model else []
    scratch = Path(tempfile.mkdtemp(prefix="hippo-bench-batch-"))
    cluster = SlurmCluster(scratch / "slurm")
    (scratch / "slurm").mkdir()
    cluster.start()
    env = {**os.environ, **cluster.env}
    times = {"per-source": [], "hippo": []}
    try:
        for repeat in range(options.repeats):
            order = [("per-source", per_source_array), ("hippo", hippo_batch)]
            for name, run in order if repeat % 2 == 0 else order[::-1]:
                work = scratch / f"{name}-{repeat}"
                work.mkdir()
                times[name].append(run(images, model_arguments, work, env))
            same = (scratch / f"hippo-{repeat}" / "hippo.csv").read_text() == \
                   (scratch / f"per-source-{repeat}" / "per-source.csv").read_text()
            print(f"repeat {repeat + 1}: per-source {times['per-source'][-1]:.1f} s, hippo {times['hippo'][-1]:.1f} s, "
                  f"identical tables: {same}", flush=True)
    finally:
        cluster.stop()
    per_source, hippo = statistics.median(times["per-source"]), statistics.median(times["hippo"])
    print(f"{len(images)} FIRST images, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"median wall time: one task per source {per_source:.1f} s, hippo batch {hippo:.1f} s, "
          f"ratio {per_source / hippo:.2f}")


if __name__ == "__main__":
    main()
