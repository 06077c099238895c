"""Celestial frames of image WCSs (hippo.io.frames) against astropy's own transformations."""

import numpy as np
import pytest
from astropy.coordinates import FK4, FK5, BarycentricMeanEcliptic, Galactic, SkyCoord
from astropy.wcs import WCS

from hippo.io.frames import celestial_frame, icrs_to_native, is_icrs, native_to_icrs

FRAMES = {"galactic": (("GLON-TAN", "GLAT-TAN"), None, None, Galactic()),
          "ecliptic": (("ELON-TAN", "ELAT-TAN"), None, None, BarycentricMeanEcliptic(equinox="J2000")),
          "fk5-1950": (("RA---TAN", "DEC--TAN"), "FK5", 1950.0, FK5(equinox="J1950")),
          "fk4": (("RA---TAN", "DEC--TAN"), "FK4", 1950.0, FK4(equinox="B1950"))}


def wcs_of(ctype, radesys, equinox):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = list(ctype)
    if radesys:
        wcs.wcs.radesys = radesys
    if equinox:
        wcs.wcs.equinox = equinox
    wcs.wcs.set()
    return wcs


@pytest.mark.parametrize("name", FRAMES)
def test_sky_frames_agree_with_astropy_to_a_microarcsecond(name):
    ctype, radesys, equinox, frame = FRAMES[name]
    wcs = wcs_of(ctype, radesys, equinox)
    assert not is_icrs(wcs) and type(celestial_frame(wcs)) is type(frame)
    rng = np.random.default_rng(5)
    ra, dec = rng.uniform(0, 360, 40), np.degrees(np.arcsin(rng.uniform(-0.999, 0.999, 40)))
    icrs = SkyCoord(ra, dec, unit="deg")
    expected = icrs.transform_to(frame).spherical
    lon, lat = icrs_to_native(wcs, ra, dec)
    assert SkyCoord(lon, lat, unit="deg").separation(SkyCoord(expected.lon, expected.lat)).arcsec.max() < 1e-6
    assert SkyCoord(*native_to_icrs(wcs, lon, lat), unit="deg").separation(icrs).arcsec.max() < 1e-6


def test_icrs_and_fk5_j2000_images_pass_through_untouched():
    for radesys, equinox in (("ICRS", None), ("FK5", 2000.0)):
        wcs = wcs_of(("RA---TAN", "DEC--TAN"), radesys, equinox)
        assert is_icrs(wcs) and icrs_to_native(wcs, 10.0, 20.0) == (10.0, 20.0)
