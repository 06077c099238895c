"""Angles and sizes from the command line: astropy quantities, or plain numbers in a given unit."""

from astropy import units as u

from hippo.errors import UsageError


def parse_angle(value, option, default_unit=u.arcsec):
    """``"4.5arcmin"``, ``"30 arcsec"``, a Quantity, or a plain number in ``default_unit``.

    >>> parse_angle("4.5arcmin", "--size").to_value("arcsec")
    270.0
    """
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
    if quantity.value <= 0:
        raise UsageError(f"{option}: must be positive, got {value!r}")
    return quantity.to(u.arcsec)
