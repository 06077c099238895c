"""FITS files per second through ``hippo classify`` (start-up excluded) and through an anchor-style loop.

HIPPO: ``hippo.classify(files, classifier=...)``, the function behind ``hippo classify`` (the
model is loaded once before the clock starts; ``--threads`` forked worker processes, each
reading, preprocessing and classifying 8 files per network pass).

This VM's speed drifts by a third within an hour and its two vCPUs slow each other by ~25 %
when both are busy: compare runs by the ratio, which both sides see alike, not by files/s.

Peer, in the style of the FIRST Classifier (Alhassan et al. 2018) without its SkyView download:
for each file, ``astropy.io.fits`` reads it, ``astropy.stats.sigma_clipped_stats`` measures the
noise, the central crop is clipped and scaled, and the network classifies that one image. It
uses the same network and crop, so the ratio measures the pipeline, not the model.

Both run in one process on the same files, alternating, ``--repeats`` times; medians printed.

With ``--versus MODEL_DIR`` a second model goes through ``hippo classify`` in the same loop
(the two alternate), to compare models on the same machine minute.

    python bench/bench_classify.py [--files 400] [--threads 2] [--repeats 3] [--model DIR] [--versus DIR]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_mirabest"


def anchor_style(classifier, files):
    """One file at a time: full astropy read, astropy sigma clipping, a forward pass per image."""
    import warnings

    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats

    from hippo.morphology.preprocess import GRID_PIXELS, clip_and_scale

    labels = []
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path) as hdul:
                data = next(h.data for h in hdul if h.data is not None and h.data.ndim >= 2).squeeze().astype(np.float32)
        _, median, std = sigma_clipped_stats(data, sigma=3.0)
        ny, nx = data.shape
        y0, x0 = (ny - GRID_PIXELS) // 2, (nx - GRID_PIXELS) // 2
        array, _ = clip_and_scale(data[y0:y0 + GRID_PIXELS, x0:x0 + GRID_PIXELS], median, std)
        probabilities, _ = classifier.predict_arrays(array[None])
        labels.append(int(np.argmax(probabilities)))
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400, help="how many FIRST FITS files (default 400)")
    parser.add_argument("--threads", type=int, default=2, help="cores for HIPPO (default 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--versus", default=None, help="a second model folder timed alternately with --model")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"real data not found at {DATA}")
    files = sorted(DATA.glob("*.fits.fz"))[: args.files]

    import hippo
    from hippo.morphology import load_classifier

    started = time.perf_counter()
    classifiers = {"model": load_classifier(args.model, threads=args.threads)}
    startup = time.perf_counter() - started
    if args.versus:
        classifiers["versus"] = load_classifier(args.versus, threads=args.threads)
    peer_classifier = load_classifier(args.model, threads=1)
    peer_files = files[: max(len(files) // 4, 20)]  # the loop is slow: a quarter of the files is plenty

    hippo_rates, peer_rates = {kind: [] for kind in classifiers}, []
    for _ in range(args.repeats):
        for kind, classifier in classifiers.items():
            started = time.perf_counter()
            table = hippo.classify(files, classifier=classifier, batch_size=args.batch_size, threads=args.threads,
                                   quiet=True)
            hippo_rates[kind].append(len(files) / (time.perf_counter() - started))
        started = time.perf_counter()
        anchor_style(peer_classifier, peer_files)
        peer_rates.append(len(peer_files) / (time.perf_counter() - started))
    errors = int(np.sum(np.asarray(table["flag"]) == "error"))
    peer_median = statistics.median(peer_rates)
    print(f"files: {len(files)} FIRST .fits.fz (300x300) for hippo, {len(peer_files)} for the loop; "
          f"{errors} errors; model load {startup:.2f} s (excluded)")
    medians = {}
    for kind, classifier in classifiers.items():
        medians[kind] = statistics.median(hippo_rates[kind])
        print(f"hippo classify, {classifier.name} ({args.threads} worker processes): median {medians[kind]:.0f} "
              f"files/s ({', '.join(f'{r:.0f}' for r in hippo_rates[kind])})")
    print(f"anchor-style loop (1 thread, astropy read + sigma_clipped_stats + one image per pass): "
          f"median {peer_median:.0f} files/s ({', '.join(f'{r:.0f}' for r in peer_rates)})")
    print(f"ratio hippo / loop: {medians['model'] / peer_median:.1f}")
    if "versus" in medians:
        print(f"ratio {classifiers['versus'].name} / {classifiers['model'].name}: "
              f"{medians['versus'] / medians['model']:.2f}")


if __name__ == "__main__":
    main()
