"""Make the overlay gallery of docs/overlays.md from the real survey images in ../shared/data.

    python docs/gallery/make_gallery.py [--data ../shared/data] [--output docs/gallery]

Every figure is drawn by ``hippo.overlay`` with the options shown in its printed command line.
The candidate list and region file of the FIRST-on-WISE figure are made here from the images
themselves (W1 peaks near the radio core, a 20" circle around it), written to a temporary folder.
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

import hippo
from hippo.io import read_image

REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get("HIPPO_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
W1 = "first_wise/2279p454_ac51-w1-int-3_ra228.11333333333332_dec45.67388888888889_asec480.000.fits"
FIRST_3 = "first_wise/FIRSTJ151227.2+454026_3.fits"
FIRST_8 = "first_wise/FIRSTJ151227.2+454026_8.fits"
PAIR = "1408+0050_II"
MIRABEST_FRII = "first_mirabest/200_143.160+016.199_0.1910_0242.71.fits.fz"  # z = 0.191, 243" across
LOTSS = "lotss_dr1/P205+55-mosaic.fits"
LOTSS_SOURCES = "lotss_dr1/catalog_shimwell_reduced.srl.fits"
GALLERY_DPI = 110


def host_candidates(data, scratch):
    """W1 peaks within 20" of the FIRST core: a small candidate list, and a DS9 circle of that radius."""
    from astropy.table import Table
    from photutils.detection import find_peaks

    from hippo.overlays.levels import estimate_noise

    radio = read_image(data / FIRST_3)
    core_y, core_x = np.unravel_index(np.nanargmax(radio.data), radio.shape)
    core = radio.wcs.pixel_to_world(core_x, core_y)
    infrared = read_image(data / W1)
    pixels = np.asarray(infrared.data, dtype=float)
    peaks = find_peaks(pixels - np.nanmedian(pixels), threshold=10 * estimate_noise(pixels), box_size=5)
    sky = infrared.wcs.pixel_to_world(peaks["x_peak"], peaks["y_peak"])
    near = core.separation(sky).arcsec < 20
    order = np.argsort(core.separation(sky[near]).arcsec)
    candidates = Table({"id": [f"W1-{letter}" for letter in "abcdefghi"[: near.sum()]],
                        "ra": sky[near].ra.deg[order], "dec": sky[near].dec.deg[order]})
    candidates.write(scratch / "candidates.csv", overwrite=True)
    regions = scratch / "search.reg"
    regions.write_text("# Region file format: DS9 version 4.1\nicrs\n"
                       f"circle({core.ra.deg:.6f},{core.dec.deg:.6f},20\") # color=#00a000 width=2\n")
    return core, scratch / "candidates.csv", regions


def lotss_source_list(data, scratch, centre, radius_arcmin=4.0):
    """The PyBDSF sources around ``centre``, as a small CSV the overlay marks."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    table = Table.read(data / LOTSS_SOURCES)
    near = SkyCoord(table["RA"], table["DEC"], unit="deg").separation(centre) < radius_arcmin * u.arcmin
    subset = table[near][["Source_Name", "RA", "DEC"]]
    subset["Source_Name"] = [f"J{name[4:10]}{name[14:19]}" for name in subset["Source_Name"]]  # J134010+5453
    path = scratch / "lotss_sources.csv"
    subset.write(path, overwrite=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    data, out = args.data, args.output
    if not data.is_dir():
        raise SystemExit(f"error: {data}: survey data not found (give --data or set HIPPO_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        core, candidates, regions = host_candidates(data, scratch)
        lotss_centre = read_image(data / LOTSS).wcs.pixel_to_world(199, 199)
        figures = {
            "first_on_wise.png": dict(
                image=data / W1, contours=[data / FIRST_3], catalogue=candidates, regions=regions,
                ra=core.ra.deg, dec=core.dec.deg, size="2.5arcmin", title="J151227+454026: FIRST on AllWISE W1"),
            "first_on_wise_wide.png": dict(
                image=data / W1, contours=[data / FIRST_8], title="J151227+454026, 8\u2032 field"),
            "nvss_on_first.png": dict(
                image=data / f"first_nvss_pairs/FIRST_{PAIR}.fits.fz",
                contours=[data / f"first_nvss_pairs/NVSS_{PAIR}.fits.fz"], title=f"{PAIR}: NVSS on FIRST"),
            "first_and_nvss_panels.png": dict(
                image=[data / f"first_nvss_pairs/FIRST_{PAIR}.fits.fz", data / f"first_nvss_pairs/NVSS_{PAIR}.fits.fz"],
                contours=[data / f"first_nvss_pairs/FIRST_{PAIR}.fits.fz",
                          data / f"first_nvss_pairs/NVSS_{PAIR}.fits.fz"],
                size="4arcmin", panel_inches=4.0),
            "wise_and_first_panels.png": dict(
                image=[data / W1, data / FIRST_8], contours=[data / FIRST_8], ra=core.ra.deg, dec=core.dec.deg,
                size="4arcmin", stretch="zscale", panel_inches=4.0),
            "mirabest_frii_kpc.png": dict(
                image=data / MIRABEST_FRII, contours=[data / MIRABEST_FRII], level_step="2", redshift=0.191,
                size="6arcmin", title="MiraBest FRII at z = 0.191"),
            "lotss_with_sources.png": dict(
                image=data / LOTSS, contours=[data / LOTSS], noise="local", levels=4,
                catalogue=lotss_source_list(data, scratch, lotss_centre, radius_arcmin=7.5),
                title="LoTSS-DR1 P205+55 (10′) with its PyBDSF sources",
                dpi=95),  # its noise texture compresses badly: 95 dpi keeps the PNG under 200 kB
        }
        for name, options in figures.items():
            path = hippo.overlay(output=out / name, **{"dpi": GALLERY_DPI, **options})
            print(f"{path.relative_to(REPOSITORY) if path.is_relative_to(REPOSITORY) else path}  "
                  f"{path.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
