"""Angles and sizes from the command line: astropy quantities, or plain numbers in a given unit."""

import math
import re

from hippo.errors import UsageError

# The common spellings, read without astropy so light commands (xmatch) start fast.
_SIMPLE_ANGLE = re.compile(r"^\s*([0-9.eE+-]+)\s*(arcsec|arcmin|deg|mas|)\s*$")
_ARCSEC_PER = {"": 1.0, "arcsec": 1.0, "arcmin": 60.0, "deg": 3600.0, "mas": 1e-3}


def parse_angle(value, option, default_unit=None):
    """``"4.5arcmin"``, ``"30 arcsec"``, a Quantity, or a plain number in ``default_unit`` (arcsec).

    Returns an astropy Quantity in arcsec.

    >>> parse_angle("4.5arcmin", "--size").to_value("arcsec")
    270.0
    """
    from astropy import units as u

    default_unit = default_unit or u.arcsec
    if isinstance(value, u.Quantity):
        quantity = value
    else:
        try:
            quantity = float(value) * default_unit
        except (TypeError, ValueError):
            try:
                quantity = u.Quantity(str(value).replace(" ", ""))
            except (TypeError, ValueError):
                raise UsageError(f"{option}: cannot read {value!r} as an angle (e.g. 4.5arcmin, 30arcsec)") from None
    if not quantity.unit.is_equivalent(u.deg):
        raise UsageError(f"{option}: {value!r} is not an angle")
    if not math.isfinite(quantity.value) or quantity.value <= 0:
        raise UsageError(f"{option}: must be a positive finite angle, got {value!r}")
    return quantity.to(u.arcsec)


def angle_arcsec(value, option, allow_zero=False):
    """An angle as a float in arcsec: numbers are arcsec, ``"5arcsec"``/``"0.1deg"`` are read here
    without importing astropy, anything else (a Quantity, ``"1e-3 rad"``) by :func:`parse_angle`.

    >>> angle_arcsec("2arcmin", "--radius")
    120.0
    """
    if isinstance(value, (int, float)):
        arcsec = float(value)
    else:
        match = _SIMPLE_ANGLE.match(value) if isinstance(value, str) else None
        if not match:
            return float(parse_angle(value, option).to_value("arcsec"))  # finite and positive
        try:
            arcsec = float(match.group(1)) * _ARCSEC_PER[match.group(2)]
        except ValueError:
            raise UsageError(f"{option}: cannot read {value!r} as an angle (e.g. 5arcsec)") from None
    if not math.isfinite(arcsec) or arcsec < 0 or (arcsec == 0 and not allow_zero):
        raise UsageError(f"{option}: must be a positive finite angle, got {value!r}")
    return arcsec
