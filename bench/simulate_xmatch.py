"""Completeness and reliability of ``hippo xmatch`` on simulated fields with known hosts.

Fields from ``hippo.crossmatch.simulate`` at several optical depths; for each, the likelihood
ratio (balanced threshold, ``--group``) and the nearest neighbour within 5", scored against the
truth. Completeness: correct identifications over sources whose host is in the optical
catalogue; reliability: correct over identifications made. Prints a Markdown table (the one in
docs/crossmatch.md).

    nice -n 10 python bench/simulate_xmatch.py [--sources 5000] [--seeds 3]
"""

import argparse

import numpy as np

from hippo.crossmatch import xmatch
from hippo.crossmatch.simulate import score, simulate_field

# The counts of ``score`` summed over a depth's fields (rates are recomputed from the sums).
COUNTS = ("with_host", "identified", "correct", "correct_sources")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=5000, help="radio sources per field (1250 per deg^2)")
    parser.add_argument("--seeds", type=int, default=3, help="fields per depth (results are summed)")
    parser.add_argument("--beam", type=float, default=6.0, help="radio beam FWHM in arcsec (sets positional errors)")
    parser.add_argument("--radius", default="5arcsec", help="search radius")
    options = parser.parse_args()
    print("| optical limit | optical sources / deg^2 | hosts in catalogue | method | Q0 (est.) | "
          "completeness est. / measured | reliability est. / measured | multi-component: completeness, reliability |")
    print("|---|---|---|---|---|---|---|---|")
    for limit in (22.0, 23.0, 24.0, 25.0):
        totals = {"lr": {}, "nn": {}}
        estimates = []
        density = present = 0.0
        for seed in range(options.seeds):
            area = options.sources / 1250
            radio, optical = simulate_field(n_radio=options.sources, area_deg2=area, optical_limit=limit,
                                            beam_arcsec=options.beam, seed=seed)
            density += len(optical) / area / options.seeds
            compact = ~np.asarray(radio["true_multi"])
            present += np.mean(np.asarray(radio["true_host"])[compact] >= 0) / options.seeds
            lr = xmatch(radio, optical, method="lr", radius=options.radius, astrometric_floor="0.3arcsec", group=True)
            estimates.append((lr.meta["q0"], lr.meta["estimated_completeness"], lr.meta["estimated_reliability"]))
            nn = xmatch(radio, optical, method="nn", radius=options.radius, group=True)
            for name, pairs in (("lr", lr), ("nn", nn)):
                for kind, numbers in score(pairs, radio).items():
                    bucket = totals[name].setdefault(kind, dict.fromkeys(COUNTS, 0))
                    for count in COUNTS:
                        bucket[count] += numbers[count]
        q0, completeness_estimate, reliability_estimate = np.mean(estimates, axis=0)
        for name in ("lr", "nn"):
            compact, multi = totals[name]["compact"], totals[name]["multi"]
            estimated = (f"{100 * completeness_estimate:.1f}% / ", f"{100 * reliability_estimate:.1f}% / ") \
                if name == "lr" else ("", "")
            print(f"| {limit:.0f} | {density:,.0f} | {100 * present:.1f}% | {name} | "
                  f"{f'{q0:.3f}' if name == 'lr' else ''} | "
                  f"{estimated[0]}{100 * compact['correct_sources'] / compact['with_host']:.1f}% | "
                  f"{estimated[1]}{100 * compact['correct'] / max(compact['identified'], 1):.1f}% | "
                  f"{100 * multi['correct_sources'] / multi['with_host']:.0f}%, "
                  f"{100 * multi['correct'] / max(multi['identified'], 1):.0f}% |")


if __name__ == "__main__":
    main()
