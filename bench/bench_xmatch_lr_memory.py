"""Benchmark: peak memory and time of ``xmatch(method="lr")`` as the search radius grows.

A simulated LoTSS-like field (``hippo.crossmatch.simulate``: 20,000 radio sources over 16 deg^2,
some 1.9 million optical sources to m = 24.5) matched at each radius in a fresh process, so that
each run's peak resident memory is its own. Prints a Markdown table of the growth of the peak
over what the process held before matching (the catalogues: resident memory, and the peak of
the allocations tracemalloc sees, numpy's included) and the wall and CPU time of the match
(untraced; CPU time is the steadier on a shared machine).

    nice -n 10 python bench/bench_xmatch_lr_memory.py [--sources 20000] [--radii 5 10 20 40]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from hippo.crossmatch.simulate import simulate_field

MATCH_SCRIPT = textwrap.dedent("""
    import os, resource, sys, time, tracemalloc
    import numpy as np
    from astropy.table import Table
    from hippo.crossmatch import xmatch

    with np.load(sys.argv[1]) as radio_columns, np.load(sys.argv[2]) as optical_columns:
        radio, optical = Table(dict(radio_columns)), Table(dict(optical_columns))
    # resident now, not the high-water mark: loading the catalogues peaked above what they hold
    with open("/proc/self/statm") as statm:
        resident_kb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024
    if sys.argv[4] == "traced":  # numpy reports its buffers to tracemalloc: the peak of the match alone
        tracemalloc.start()
    start, start_cpu = time.perf_counter(), time.process_time()
    pairs = xmatch(radio, optical, method="lr", radius=float(sys.argv[3]), astrometric_floor="0.3arcsec")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if sys.argv[4] == "traced":
        grown_kb = tracemalloc.get_traced_memory()[1] / 1024
    else:
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - resident_kb
    print(grown_kb / 1024, elapsed, cpu, len(pairs), pairs.meta["q0"], pairs.meta["lr_threshold"])
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20_000, help="radio sources (1250 per deg^2)")
    parser.add_argument("--optical-limit", type=float, default=24.5,
                        help="optical magnitude limit (24.5: 1.1e5 sources per deg^2)")
    parser.add_argument("--radii", type=float, nargs="+", default=[5, 10, 20, 40], help="search radii (arcsec)")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hippo-bench-lr-"))
    try:
        radio, optical = simulate_field(n_radio=options.sources, area_deg2=options.sources / 1250,
                                        optical_limit=options.optical_limit, seed=5)
        np.savez(scratch / "radio.npz", **{name: np.asarray(radio[name]) for name in
                                           ("Source_Name", "RA", "DEC", "E_RA", "E_DEC", "Maj")})
        np.savez(scratch / "optical.npz", **{name: np.asarray(optical[name]) for name in optical.colnames})
        (scratch / "match.py").write_text(MATCH_SCRIPT)
        print(f"{len(radio):,} radio components x {len(optical):,} optical sources")
        print("| radius | peak resident growth | peak traced | wall | CPU | pairs accepted | Q0 | LR threshold |")
        print("|---|---|---|---|---|---|---|---|")
        for radius in options.radii:
            runs = {}
            for mode in ("resident", "traced"):
                result = subprocess.run([sys.executable, scratch / "match.py", scratch / "radio.npz",
                                         scratch / "optical.npz", str(radius), mode], capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"radius {radius}: {result.stderr.strip()[-500:]}")
                runs[mode] = result.stdout.split()
            resident_mb, seconds, cpu_seconds, count, q0, threshold = runs["resident"]
            print(f"| {radius:g}\" | {float(resident_mb):,.0f} MB | {float(runs['traced'][0]):,.0f} MB | "
                  f"{float(seconds):.1f} s | {float(cpu_seconds):.1f} s | {int(count):,} | {float(q0):.3f} | "
                  f"{float(threshold):.3g} |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
