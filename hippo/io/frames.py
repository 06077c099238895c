"""Celestial frames of image WCSs: galactic, ecliptic and B1950 images as well as ICRS ones.

astropy's ``wcs_to_celestial_frame`` calls ecliptic axes ICRS, and a SkyCoord transformation per
call costs milliseconds: here the frame is worked out once per kind of WCS and every transformation
but FK4's (whose E-terms of aberration are not a rotation) is one 3 x 3 rotation.
numpy only at import; astropy.coordinates when a frame is first needed.
"""

import functools

import numpy as np


def is_icrs(wcs):
    """Whether the image's world coordinates are ICRS RA/Dec (FK5 J2000 within ~20 mas counts).

    wcslib's longitude type is "RA" for equatorial axes, "GLON"/"ELON"/"HLON" for galactic and
    ecliptic ones; an equatorial image can still be FK4 B1950 (RADESYS, or an EQUINOX before 1984).
    """
    core = wcs.wcs
    return core.lngtyp in ("RA", "") and (core.radesys in ("ICRS", "") or (core.radesys == "FK5" and (
        not np.isfinite(core.equinox) or core.equinox == 2000.0)))


def _frame_key(wcs):
    """What decides an image's celestial frame: longitude type, RADESYS, EQUINOX (hashable)."""
    core = wcs.wcs
    return core.lngtyp, core.radesys, float(core.equinox) if np.isfinite(core.equinox) else None


def celestial_frame(wcs):
    """The astropy frame of a WCS's celestial axes. Unlike astropy's ``wcs_to_celestial_frame``,
    ecliptic axes are the mean ecliptic of the equinox (J2000 unless given), not ICRS."""
    return _celestial_frame(_frame_key(wcs))


@functools.lru_cache(maxsize=16)
def _celestial_frame(key):
    from astropy.coordinates import FK4, FK5, ICRS, BarycentricMeanEcliptic, FK4NoETerms, Galactic

    longitude_type, radesys, equinox = key
    if longitude_type == "GLON":
        return Galactic()
    if longitude_type in ("ELON", "HLON"):
        return BarycentricMeanEcliptic(equinox=f"J{equinox or 2000.0:g}")
    if radesys in ("FK4", "FK4-NO-E"):
        return (FK4 if radesys == "FK4" else FK4NoETerms)(equinox=f"B{equinox or 1950.0:g}")
    if radesys == "FK5":
        return FK5(equinox=f"J{equinox or 2000.0:g}")
    return ICRS()


@functools.lru_cache(maxsize=16)
def _rotation_from_icrs(key):
    """The 3 x 3 matrix taking ICRS unit vectors to the frame's, or None for FK4, whose E-terms of
    aberration are not a rotation. A matrix once per frame instead of an astropy transformation
    per call: a galactic image costs what an equatorial one does."""
    if key[0] in ("RA", "") and key[1] in ("FK4", "FK4-NO-E"):
        return None
    from astropy.coordinates import SkyCoord, UnitSphericalRepresentation

    axes = SkyCoord([0.0, 90.0, 0.0], [0.0, 0.0, 90.0], unit="deg", frame="icrs")  # x, y, z
    moved = axes.transform_to(_celestial_frame(key)).represent_as(UnitSphericalRepresentation)
    return np.asarray(moved.to_cartesian().xyz)  # column j: where ICRS axis j goes


def icrs_to_native(wcs, ra, dec):
    """ICRS (deg) to the world coordinates of ``wcs`` (deg), scalars or arrays."""
    return (ra, dec) if is_icrs(wcs) else _rotate(_frame_key(wcs), ra, dec, inverse=False)


def native_to_icrs(wcs, lon, lat):
    """World coordinates of ``wcs`` (deg) to ICRS (deg), scalars or arrays."""
    return (lon, lat) if is_icrs(wcs) else _rotate(_frame_key(wcs), lon, lat, inverse=True)


def _rotate(key, lon, lat, inverse):
    matrix = _rotation_from_icrs(key)
    if matrix is None:  # FK4: astropy's full transformation
        from astropy.coordinates import SkyCoord, UnitSphericalRepresentation

        frames = (_celestial_frame(key), "icrs") if inverse else ("icrs", _celestial_frame(key))
        moved = SkyCoord(lon, lat, unit="deg", frame=frames[0]).transform_to(frames[1])
        spherical = moved.represent_as(UnitSphericalRepresentation)
        out_lon, out_lat = spherical.lon.deg, spherical.lat.deg
    else:
        lon_rad, lat_rad = np.radians(lon), np.radians(lat)
        vectors = np.stack([np.cos(lat_rad) * np.cos(lon_rad), np.cos(lat_rad) * np.sin(lon_rad), np.sin(lat_rad)])
        x, y, z = (matrix.T if inverse else matrix) @ vectors.reshape(3, -1)
        out_lon = np.mod(np.degrees(np.arctan2(y, x)), 360.0).reshape(np.shape(lon))
        out_lat = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0))).reshape(np.shape(lat))
    return (float(out_lon), float(out_lat)) if np.ndim(out_lon) == 0 else (np.asarray(out_lon), np.asarray(out_lat))
