"""Benchmark: 2,000 cutouts of 2' from an 8192x8192 mosaic, ``hippo cutout`` against the astropy loop.

The peer is the loop a user would write: open the mosaic memory-mapped once, ``Cutout2D`` and
``writeto`` per source. Both run as whole processes (interpreter start, imports, catalogue
reading, writing every file) on the same mosaic and catalogue, alternately, ``--repeats`` times
each; the medians and their ratio are printed. The mosaic is made in a temporary directory from
real FIRST images (``../shared/data/first_mirabest``) laid side by side under a real FIRST WCS
(falling back to noise under that WCS where the data are absent).

    python bench/bench_cutout.py [--sources 2000] [--side 8192] [--repeats 3] [--workers N]
"""

import argparse
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from _timing import timed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "first_mirabest"

ASTROPY_LOOP = textwrap.dedent("""
    import sys
    from pathlib import Path

    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from astropy.table import Table
    from astropy.wcs import WCS

    mosaic, catalogue, output = sys.argv[1:4]
    Path(output).mkdir(parents=True, exist_ok=True)
    with fits.open(mosaic, memmap=True) as hdul:
        data, wcs = hdul[0].data, WCS(hdul[0].header)
        for row in Table.read(catalogue):
            position = SkyCoord(row["ra"] * u.deg, row["dec"] * u.deg)
            cut = Cutout2D(data, position, 2 * u.arcmin, wcs=wcs, mode="partial")
            fits.PrimaryHDU(cut.data, header=cut.wcs.to_header()).writeto(
                f"{output}/{row['name']}.fits", overwrite=True)
""")


def make_mosaic(path, side):
    """An ``side`` x ``side`` float32 mosaic of real FIRST images under a FIRST (SIN, 1.8") WCS."""
    files = sorted(DATA.glob("*.fits.fz"))[:24]
    if files:
        header = fits.getheader(files[0], 1)
        tiles = [fits.getdata(f, 1).astype(np.float32) for f in files]
    else:
        header = fits.Header({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 150.0, "CRVAL2": 30.0,
                              "CDELT1": -0.0005, "CDELT2": 0.0005, "BUNIT": "JY/BEAM"})
        rng = np.random.default_rng(0)
        tiles = [rng.normal(0, 1.5e-4, (300, 300)).astype(np.float32) for _ in range(8)]
    wcs = WCS(header, naxis=2).celestial
    out = fits.Header()
    out.update({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": side, "NAXIS2": side})
    out.update(wcs.to_header())
    out["CTYPE1"], out["CTYPE2"] = "RA---SIN", "DEC--SIN"
    out["CRPIX1"] = out["CRPIX2"] = side / 2 + 0.5
    out["BUNIT"] = "JY/BEAM"
    out["BMAJ"] = out["BMIN"] = 5.4 / 3600
    out["BPA"] = 0.0
    header_bytes = out.tostring().encode()
    with open(path, "wb") as stream:
        stream.write(header_bytes)
        stream.truncate(len(header_bytes) + side * side * 4 + (-(side * side * 4) % 2880))
    with fits.open(path, mode="update", memmap=True) as hdul:
        data = hdul[0].data
        tile_side = tiles[0].shape[0]
        k = 0
        for y0 in range(0, side, tile_side):
            for x0 in range(0, side, tile_side):
                block = tiles[k % len(tiles)]
                k += 1
                h, w = min(tile_side, side - y0), min(tile_side, side - x0)
                data[y0:y0 + h, x0:x0 + w] = block[:h, :w]
    return WCS(out)


def make_catalogue(path, wcs, side, count, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(40, side - 40, count)
    y = rng.uniform(40, side - 40, count)
    sky = wcs.pixel_to_world(x, y)
    Table({"name": [f"S{i:05d}" for i in range(count)], "ra": sky.ra.deg, "dec": sky.dec.deg}).write(
        path, format="ascii.csv", overwrite=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="hippo --workers (default: hippo's own)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hippo-bench-cutout-") as tmp:
        tmp = Path(tmp)
        mosaic, catalogue, loop = tmp / "mosaic.fits", tmp / "sources.csv", tmp / "astropy_loop.py"
        wcs = make_mosaic(mosaic, args.side)
        make_catalogue(catalogue, wcs, args.side, args.sources)
        loop.write_text(ASTROPY_LOOP)
        print(f"mosaic {args.side}x{args.side} float32 ({mosaic.stat().st_size / 2**20:.0f} MiB), "
              f"{args.sources} cutouts of 2', {args.repeats} runs each")
        hippo_times, astropy_times = [], []
        for run in range(args.repeats):
            out_astropy = tmp / f"astropy{run}"
            astropy_times.append(timed([sys.executable, loop, mosaic, catalogue, out_astropy]))
            out_hippo = tmp / f"hippo{run}"
            command = [sys.executable, "-m", "hippo", "cutout", "--catalogue", catalogue, "--survey", mosaic,
                       "--size", "2arcmin", "-o", out_hippo, "--quiet"]
            if args.workers:
                command += ["--workers", str(args.workers)]
            hippo_times.append(timed(command))
            print(f"  run {run + 1}: astropy loop {astropy_times[-1]:.2f} s, hippo {hippo_times[-1]:.2f} s")
        check_same_pixels(tmp / "astropy0", tmp / "hippo0", mosaic.stem, args.sources)
        a, h = statistics.median(astropy_times), statistics.median(hippo_times)
        print(f"median astropy loop (Cutout2D + writeto): {a:.2f} s")
        print(f"median hippo cutout:                      {h:.2f} s")
        print(f"ratio (astropy / hippo): {a / h:.2f}x")


def check_same_pixels(astropy_dir, hippo_dir, survey, count):
    """Both tools cut the same pixels around each source (checked on a sample)."""
    for i in range(0, count, max(1, count // 50)):
        ours = fits.getdata(hippo_dir / f"S{i:05d}" / f"{survey}.fits")
        theirs = fits.getdata(astropy_dir / f"S{i:05d}.fits")
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs, equal_nan=True):
            raise SystemExit(f"S{i:05d}: hippo and astropy cut different pixels ({ours.shape} vs {theirs.shape})")
    print("pixels identical to astropy's Cutout2D on a sample of 50 sources")


if __name__ == "__main__":
    main()
