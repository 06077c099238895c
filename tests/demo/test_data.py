"""The demo's inputs: firstgalaxydata's images read faithfully, placed on the sky correctly, and
the simulated optical sky behaving as documented."""

import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hippo.demonstration import data
from hippo.io import read_image


@pytest.fixture(scope="module")
def test_split():
    return data.list_labelled("test")


def test_test_split_has_50_images_per_class(test_split):
    assert len(test_split) == 200
    assert {label: int((test_split["label"] == label).sum()) for label in ("FRI", "FRII", "BENT", "COMP")} == \
        {"FRI": 50, "FRII": 50, "BENT": 50, "COMP": 50}


def test_png_pixels_and_positions_are_those_of_the_hdf5_data_set(test_split):
    h5py = pytest.importorskip("h5py")
    package = Path(list(importlib.util.find_spec("firstgalaxydata").submodule_search_locations)[0])
    with zipfile.ZipFile(package / "galaxy_data_h5.zip") as bundle, \
            h5py.File(bundle.open("galaxy_data_h5.h5"), "r") as hdf5:
        entry = hdf5["data_0/Img"]
        member = "galaxy_data/" + "test/" + entry.attrs["Filepath_literature"]
        pixels, ra, dec = entry[()], float(entry.attrs["RA"]), float(entry.attrs["DEC"])
    image = data.read_labelled([member])[0]
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == (300, 300)
    assert np.array_equal(image.pixels, pixels)
    assert (image.ra, image.dec) == (ra, dec)


def test_written_fits_puts_the_centre_at_the_catalogued_position(tmp_path, test_split):
    image = data.read_labelled([test_split["member"][0]])[0]
    path = data.write_first_fits(image, tmp_path / "first.fits")
    read = read_image(path)
    centre = read.wcs.pixel_to_world(149.5, 149.5)
    assert abs(centre.ra.deg - image.ra) < 1e-9 and abs(centre.dec.deg - image.dec) < 1e-9
    assert np.array_equal(read.data, image.pixels.astype(np.float32))
    assert fits.getheader(path)["HIPPOCMD"] == "demo"


def test_orientation_matches_skyview_first_cutouts_of_the_same_sources(shared_data):
    """Each firstgalaxydata image correlates best, as written (north up, east left), with the real
    FIRST FITS of the same MiraBest source; flipped, transposed or rotated it correlates less."""
    from astropy.table import Table

    index = Table.read(shared_data / "first_mirabest" / "index.csv")
    labelled = data.list_labelled("valid")
    as_written = []
    for row in index[index["fgd_split"] == "valid"][:12]:
        close = np.hypot(labelled["ra"] - row["host_ra"], labelled["dec"] - row["host_dec"]) < 0.0011
        if not close.any():
            continue
        pixels = data.read_labelled([labelled["member"][np.flatnonzero(close)[0]]])[0].pixels.astype(float)
        survey = np.nan_to_num(read_image(shared_data / "first_mirabest" / row["file"]).data.astype(float))

        def correlation(a):
            a, b = a - a.mean(), survey - survey.mean()
            return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())

        others = [correlation(p) for p in (pixels[::-1], pixels[:, ::-1], pixels.T, pixels[::-1, ::-1])]
        as_written.append(correlation(pixels))
        assert as_written[-1] > max(others)
    assert len(as_written) >= 10
    assert np.median(as_written) > 0.7


def test_simulated_optical_sky_has_a_close_host_for_most_sources(test_split):
    optical, truth = data.simulate_optical(test_split)
    hosts = [h for h in truth["host_id"] if h]
    assert len(truth) == 200 and len(set(hosts)) == len(hosts)
    assert 0.7 < len(hosts) / 200 < 0.9  # the rest are below the catalogue's limit
    assert set(hosts) <= set(optical["id"])
    # 2-D Gaussian of 0.7" per coordinate: median offset 0.7 * sqrt(2 ln 2) = 0.82".
    assert 0.65 < np.median(truth["offset_arcsec"]) < 1.0
    assert all(identifier.startswith("sim") for identifier in optical["id"])
    again, _ = data.simulate_optical(test_split)
    assert np.array_equal(again["ra"], optical["ra"])  # the same sky every run
    per_field = (len(optical) - len(hosts)) / 200
    expected = data.BACKGROUND_PER_DEG2 * np.pi * (data.FIELD_RADIUS_ARCMIN / 60) ** 2
    assert abs(per_field - expected) < 0.05 * expected
