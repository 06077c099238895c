"""Without a BMAJ card the resolution is estimated from the noise: coarse images are flagged ood."""

import numpy as np
import pytest
from scipy import ndimage

from hippo.io import Image, read_image
from hippo.morphology import load_classifier
from hippo.morphology.preprocess import prepare

# An FRII, an FRI and a bent source of first_mirabest (SkyView cutouts: no BMAJ card).
FILES = ["200_178.467+008.136_0.2906_0073.58.fits.fz", "100_010.451-009.284_0.0529_0080.60.fits.fz",
         "102_037.617+001.147_0.2673_0031.83.fits.fz"]
REASON = "beam estimated from the noise"


@pytest.fixture(scope="module")
def first_images(shared_data):
    return [read_image(shared_data / "first_mirabest" / name) for name in FILES]


def smoothed(image, fwhm_arcsec):
    """The FIRST image (5.4" beam, 1.8"/px) smoothed to ``fwhm_arcsec``, in Jy/beam, without BMAJ."""
    sigma = np.sqrt(fwhm_arcsec**2 - 5.4**2) / 1.8 / 2.3548
    data = ndimage.gaussian_filter(image.data, sigma) * (fwhm_arcsec / 5.4) ** 2
    header = image.header.copy()
    for key in ("BMAJ", "BMIN", "BPA"):
        header.remove(key, ignore_missing=True)
    return Image(data=data, wcs=image.wcs, header=header, path=f"{image.path}_{fwhm_arcsec}")


def test_first_smoothed_to_25_and_45_arcsec_without_bmaj_is_ood_for_its_resolution(first_images):
    classifier = load_classifier(threads=1)
    views = [smoothed(image, fwhm) for image in first_images for fwhm in (25, 45)]
    unmodified = classifier.classify_images(first_images)
    table = classifier.classify_images(views)
    assert list(table["flag"]) == ["ood"] * len(views)
    assert all(REASON in message and "no BMAJ card" in message for message in table["message"])
    assert not any(REASON in str(message) for message in unmodified["message"])


def test_the_noise_beam_of_raw_first_files_is_close_to_the_first_beam(first_images):
    beams = [prepare(image).noise_beam_arcsec for image in first_images]
    assert all(abs(beam / 5.4 - 1) < 0.3 for beam in beams), beams
    assert all(prepare(smoothed(image, 15)).noise_beam_arcsec > 15 for image in first_images)
