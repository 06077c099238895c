"""A store with real rows (classifications, cross-matches, FITS cutouts) and a live inspection server."""

import contextlib
import threading

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from hippo.inspection import make_server
from hippo.store import Store

TOKEN = "test-token-0123456789"
SOURCES = [  # source, ra, dec, label, confidence, flag, xmatch flag
    ("J100000+020000", 150.0, 2.0, "FRII", 0.48, "uncertain", "inspect"),
    ("J100100+020100", 150.25, 2.0167, "FRI", 0.97, "ok", None),
    ("J100200+020200", 150.5, 2.0333, "bent", 0.40, "ood", None),
    ("J100300+020300", 150.75, 2.05, "compact", 0.51, "uncertain", "inspect"),
    ("J100400+020400", 151.0, 2.0667, "FRII", 0.99, "ok", "inspect"),
]


def synthetic_cutout(path, ra, dec, npix=64):
    """A small FITS image with a TAN WCS and a Gaussian blob at the centre."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [npix / 2 + 0.5, npix / 2 + 0.5]
    wcs.wcs.cdelt = [-1.8 / 3600, 1.8 / 3600]
    y, x = np.mgrid[:npix, :npix]
    data = np.exp(-((x - npix / 2) ** 2 + (y - npix / 2) ** 2) / 30.0).astype("float32")
    fits.PrimaryHDU(data, header=wcs.to_header()).writeto(path)


@pytest.fixture
def filled_store(tmp_path):
    path = tmp_path / "hippo.db"
    (tmp_path / "cutouts").mkdir()
    with Store.open(path) as store:
        with store.run("test-fill") as run:
            rows, matches, cutouts = [], [], []
            for source, ra, dec, label, confidence, flag, xflag in SOURCES:
                p = {"FRI": 0.1, "FRII": 0.1, "bent": 0.1, "compact": 0.1}
                p[label] = confidence
                rows.append({"source": source, "ra": ra, "dec": dec, "label": label, "confidence": confidence,
                             "flag": flag, "p_fri": p["FRI"], "p_frii": p["FRII"], "p_bent": p["bent"],
                             "p_comp": p["compact"], "model": "test"})
                for rank in (1, 2):
                    matches.append({"radio_id": source, "optical_id": f"W{source[1:7]}_{rank}",
                                    "separation_arcsec": 1.5 * rank, "rank": rank, "method": "nn",
                                    "ra": ra, "dec": dec, "flag": xflag or "ok"})
                fits_path = tmp_path / "cutouts" / f"{source}_FIRST.fits"
                synthetic_cutout(fits_path, ra, dec)
                cutouts.append({"source": source, "survey": "FIRST", "ra": ra, "dec": dec, "status": "ok",
                                "path": str(fits_path.relative_to(tmp_path))})
            store.insert("classifications", rows, run_id=run.id)
            store.insert("xmatches", matches, run_id=run.id)
            store.insert("cutouts", cutouts, run_id=run.id)
    return path


@contextlib.contextmanager
def serving(store_path, **options):
    """An inspection server on a free port of 127.0.0.1, serving in a thread until the block ends."""
    server = make_server(store_path, token=TOKEN, port=0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server(filled_store):
    with serving(filled_store, queue="uncertain") as running:
        yield running
