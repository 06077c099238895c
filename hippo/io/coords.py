"""Sky positions from users: degrees or sexagesimal in, validated ICRS SkyCoord out."""

import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle, SkyCoord

from hippo.errors import InputError


def parse_coordinate(ra, dec, source="position"):
    """Parse one position given as degrees (numbers or numeric strings) or sexagesimal strings.

    Sexagesimal RA is read in hours (``"12:30:49.4"``, ``"12h30m49.4s"``), Dec in degrees.
    RA in degrees may be negative (the -180..180 convention) and is wrapped into 0..360.
    Raises InputError naming ``source`` when the values are not a valid ICRS position.

    >>> parse_coordinate("12:30:49.42", "+12:23:28.0").ra.deg.round(4)
    187.7059
    """
    ra_value, dec_value = _as_number(ra), _as_number(dec)
    try:
        if ra_value is not None and dec_value is not None:
            _check_range(ra_value, dec_value, source)
            return SkyCoord(ra_value * u.deg, dec_value * u.deg, frame="icrs")
        ra_unit = u.deg if ra_value is not None else u.hourangle
        coord = SkyCoord(str(ra), str(dec), unit=(ra_unit, u.deg), frame="icrs")
    except InputError:
        raise
    except Exception:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            why = "; ".join(filter(None, (angle_degrees(ra, True)[1], angle_degrees(dec, False)[1])))
        raise InputError(source, why or f"cannot read RA={ra!r} Dec={dec!r} as a sky position") from None
    _check_range(coord.ra.deg, coord.dec.deg, source)
    return coord


# astropy's exceptions for a sexagesimal part out of range, by name (their module moved between versions)
_SEXAGESIMAL_PART = {"IllegalHourError": "hours >= 24", "IllegalMinuteError": "minutes >= 60",
                     "IllegalSecondError": "seconds >= 60"}


def angle_degrees(text, is_ra):
    """One RA or Dec value written as text, in degrees: a number (degrees), or sexagesimal (RA in
    hours, Dec in degrees). Returns (degrees, '') or (NaN, why not, naming the field and the text);
    an empty text is (NaN, '').

    >>> angle_degrees("15:72:27.2", is_ra=True)[1]
    "RA '15:72:27.2' is not a valid sexagesimal angle (minutes >= 60)"
    """
    text = str(text).strip()
    if not text:
        return np.nan, ""
    try:
        return float(text), ""
    except ValueError:
        pass
    try:  # (callers silence astropy's warning that a 60 in seconds or minutes is carried over)
        return float(Angle(text, unit=u.hourangle if is_ra else u.deg).deg), ""
    except Exception as exc:
        part = _SEXAGESIMAL_PART.get(type(exc).__name__)
        shown = f"{'RA' if is_ra else 'Dec'} {text if len(text) <= 40 else text[:37] + '...'!r}"
        if part:
            return np.nan, f"{shown} is not a valid sexagesimal angle ({part})"
        return np.nan, f"{shown} is not a number or a sexagesimal angle"


def _as_number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def _check_range(ra_deg, dec_deg, source):
    if not np.isfinite(ra_deg) or not np.isfinite(dec_deg):
        raise InputError(source, f"RA/Dec must be finite numbers, got RA={ra_deg} Dec={dec_deg}")
    if not -360.0 <= ra_deg <= 360.0:  # SkyCoord wraps -360..0 into 0..360
        raise InputError(source, f"RA {ra_deg} deg is outside 0..360 (or -360..0)")
    if not -90.0 <= dec_deg <= 90.0:
        raise InputError(source, f"Dec {dec_deg} deg is outside -90..+90")


def validate_radec(ra_deg, dec_deg):
    """Return an array of per-row problems ('' where the row is a valid position in degrees)."""
    ra_deg = np.asarray(ra_deg, dtype=float)
    dec_deg = np.asarray(dec_deg, dtype=float)
    problems = np.full(ra_deg.shape, "", dtype=object)
    finite = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    problems[~finite] = "RA/Dec missing or not a number"
    with np.errstate(invalid="ignore"):
        # RA below 0 is the -180..180 convention (RA -5 is RA 355): read_positions wraps it
        problems[finite & ((ra_deg < -360) | (ra_deg > 360))] = "RA outside 0..360 deg"
        problems[finite & ((dec_deg < -90) | (dec_deg > 90))] = "Dec outside -90..+90 deg"
    return problems


def iau_name(coord):
    """IAU-style J2000 name ``Jhhmmss.ss+ddmmss.s`` (truncated, not rounded, as the IAU asks)."""
    ra_hours = coord.ra.hour
    dec = coord.dec.deg
    ra_seconds_total = np.floor(ra_hours * 3600 * 100 + 1e-6) / 100  # truncate to 0.01 s
    hh, rem = divmod(ra_seconds_total, 3600)
    mm, ss = divmod(rem, 60)
    sign = "-" if dec < 0 else "+"
    dec_arcsec_total = np.floor(abs(dec) * 3600 * 10 + 1e-6) / 10  # truncate to 0.1"
    dd, drem = divmod(dec_arcsec_total, 3600)
    dm, ds = divmod(drem, 60)
    return f"J{int(hh):02d}{int(mm):02d}{ss:05.2f}{sign}{int(dd):02d}{int(dm):02d}{ds:04.1f}"
