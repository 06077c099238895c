"""Benchmark: ``hippo overlay`` vs the astropy WCSAxes script a user would write, as whole processes.

Two cases, each a PNG of radio contours (3 sigma x sqrt(2)^n, sigma from 3-sigma clipping) on an
infrared image, imports and start-up included:
- ``first_on_wise``: the 8' FIRST cutout on the AllWISE W1 image of ../shared/data/first_wise;
- ``mosaic_on_wise``: a 6000 x 6000 radio mosaic (1.5"/px, 2.5 x 2.5 degrees, simulated noise and
  sources, uncompressed FITS) contoured on the same W1 image: the script contours the whole
  mosaic through its WCS, HIPPO only the part under the W1 field (a slice, never a regrid).
Prints the median wall time of each and the ratio (above 1: hippo is faster).

    nice -n 10 python bench/bench_overlay.py [--repeats 3] [--data ../shared/data]
"""

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from _timing import timed

REPOSITORY = Path(__file__).resolve().parents[1]
W1 = "first_wise/2279p454_ac51-w1-int-3_ra228.11333333333332_dec45.67388888888889_asec480.000.fits"
FIRST_8 = "first_wise/FIRSTJ151227.2+454026_8.fits"

ASTROPY_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval
    from astropy.wcs import WCS

    image_hdu, radio_hdu = fits.open(sys.argv[1])[0], fits.open(sys.argv[2])[0]
    radio = np.squeeze(radio_hdu.data)
    radio_wcs = WCS(radio_hdu.header).celestial
    _, _, sigma = sigma_clipped_stats(radio, sigma=3, stdfunc="mad_std")
    levels = 3 * sigma * np.sqrt(2) ** np.arange(30)
    levels = levels[levels <= np.nanmax(radio)]
    figure = plt.figure(figsize=(4.6, 5.4))
    axes = figure.add_subplot(projection=WCS(image_hdu.header))
    axes.imshow(image_hdu.data, origin="lower", cmap="gray_r",
                norm=ImageNormalize(image_hdu.data, interval=PercentileInterval(99.5), stretch=AsinhStretch()))
    axes.contour(radio, levels=levels, colors="red", linewidths=0.8, transform=axes.get_transform(radio_wcs))
    axes.contour(radio, levels=[-levels[0]], colors="red", linestyles="dashed", transform=axes.get_transform(radio_wcs))
    axes.set_xlim(-0.5, image_hdu.data.shape[1] - 0.5)
    axes.set_ylim(-0.5, image_hdu.data.shape[0] - 0.5)
    figure.savefig(sys.argv[3], dpi=150, bbox_inches="tight")
""")


def make_mosaic(path, centre_ra=228.1133, centre_dec=45.6739, npix=6000, seed=5):
    """A simulated radio mosaic on a SIN grid: 0.1 mJy/beam noise and 2,000 compact sources."""
    rng = np.random.default_rng(seed)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [centre_ra, centre_dec]
    wcs.wcs.crpix = [npix / 2 + 0.5, npix / 2 + 0.5]
    wcs.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    data = rng.normal(0, 1e-4, (npix, npix)).astype(np.float32)
    y, x = np.mgrid[-8:9, -8:9]
    stamp = np.exp(-(x ** 2 + y ** 2) / (2 * 1.7 ** 2)).astype(np.float32)
    for cx, cy, peak in zip(rng.integers(10, npix - 10, 2000), rng.integers(10, npix - 10, 2000),
                            rng.uniform(5e-4, 5e-2, 2000)):
        data[cy - 8: cy + 9, cx - 8: cx + 9] += peak * stamp
    header = wcs.to_header()
    header.update(BUNIT="JY/BEAM", BMAJ=6 / 3600, BMIN=6 / 3600, BPA=0.0, TELESCOP="LOFAR")
    fits.PrimaryHDU(data, header=header).writeto(path)


def timed_here(command):
    return timed(command, cwd=REPOSITORY)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "HIPPO_SHARED_DATA", REPOSITORY.parent / "shared" / "data")))
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: {args.data}: survey data not found (give --data or set HIPPO_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "astropy_overlay.py").write_text(ASTROPY_SCRIPT)
        make_mosaic(folder / "mosaic.fits")
        cases = {"first_on_wise": args.data / FIRST_8, "mosaic_on_wise": folder / "mosaic.fits"}
        print(f"{'case':16} {'hippo s':>8} {'astropy s':>10} {'ratio':>6}")
        for case, radio in cases.items():
            hippo_times, script_times = [], []
            for _ in range(args.repeats):  # interleaved, so machine load affects both alike
                hippo_times.append(timed_here([sys.executable, "-m", "hippo", "overlay", "--image", args.data / W1,
                                          "--contours", radio, "-o", folder / "hippo.png", "-q"]))
                script_times.append(timed_here([sys.executable, folder / "astropy_overlay.py", args.data / W1, radio,
                                           folder / "astropy.png"]))
            hippo_median, script_median = statistics.median(hippo_times), statistics.median(script_times)
            print(f"{case:16} {hippo_median:8.2f} {script_median:10.2f} {script_median / hippo_median:6.2f}")


if __name__ == "__main__":
    main()
