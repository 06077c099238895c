"""Synthetic radio and optical images with known sources, noise, beams and WCS, for the overlay tests."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

SOURCE_RA, SOURCE_DEC = 150.0, 2.0  # the injected radio source
BEAM_FWHM_ARCSEC = 20.0              # of the synthetic radio image (circular Gaussian source of that size)


def make_wcs(ra, dec, npix, pixel_arcsec, rotation_deg=0.0, projection="TAN"):
    """A celestial WCS centred on (ra, dec), north rotated by ``rotation_deg`` (counter-clockwise)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = [f"RA---{projection}", f"DEC--{projection}"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(npix + 1) / 2.0, (npix + 1) / 2.0]
    scale = pixel_arcsec / 3600.0
    theta = np.radians(rotation_deg)
    wcs.wcs.cd = np.array([[-scale * np.cos(theta), -scale * np.sin(theta)],
                           [-scale * np.sin(theta), scale * np.cos(theta)]])
    return wcs


def write_image(path, data, wcs, **cards):
    header = wcs.to_header()
    for key, value in cards.items():
        header[key] = value
    fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header=header).writeto(path, overwrite=True)
    return path


def gaussian_at(wcs, shape, ra, dec, fwhm_arcsec, peak):
    """A circular Gaussian of the given FWHM at a sky position, evaluated on an image's pixels."""
    x0, y0 = (float(v) for v in wcs.world_to_pixel_values(ra, dec))
    pixel_arcsec = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600.0
    sigma_pixels = fwhm_arcsec / 2.3548 / pixel_arcsec
    y, x = np.mgrid[: shape[0], : shape[1]]
    return peak * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma_pixels ** 2))


@pytest.fixture
def radio_image(tmp_path):
    """Radio image (SIN, 4"/px, 101x101, Jy/beam): a 20" source of 10 mJy at (150, 2) offset from
    the centre, noise 0.1 mJy, beam 20"x12" at PA 30 deg in the header."""
    wcs = make_wcs(SOURCE_RA + 0.01, SOURCE_DEC - 0.008, 101, 4.0, projection="SIN")
    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 1e-4, (101, 101)) + gaussian_at(wcs, (101, 101), SOURCE_RA, SOURCE_DEC,
                                                          BEAM_FWHM_ARCSEC, 1e-2)
    return write_image(tmp_path / "radio.fits", data, wcs, BUNIT="JY/BEAM", BMAJ=20.0 / 3600, BMIN=12.0 / 3600,
                       BPA=30.0)


@pytest.fixture
def optical_image(tmp_path):
    """Optical image (TAN, 1"/px, 301x301, rotated by 35 deg) around the radio source, a star on it."""
    wcs = make_wcs(SOURCE_RA, SOURCE_DEC, 301, 1.0, rotation_deg=35.0)
    rng = np.random.default_rng(2)
    data = 100 + rng.normal(0.0, 5.0, (301, 301)) + gaussian_at(wcs, (301, 301), SOURCE_RA, SOURCE_DEC, 3.0, 500)
    return write_image(tmp_path / "optical.fits", data, wcs, BUNIT="DN", TELESCOP="TEST")
