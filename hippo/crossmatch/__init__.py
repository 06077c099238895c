"""Cross-matching radio sources to optical/IR counterparts (nearest, symmetric best)."""

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table

from hippo.crossmatch.positional import match_nearest, match_symmetric_best, unit_vectors
from hippo.errors import UsageError
from hippo.io import read_positions, write_table
from hippo.quantities import parse_angle

METHODS = {"nn": match_nearest, "best": match_symmetric_best}


def xmatch(radio, optical, method="nn", radius="5arcsec", mag_col=None, output=None, store=None,
           radio_ra_col=None, radio_dec_col=None, radio_id_col=None,
           optical_ra_col=None, optical_dec_col=None, optical_id_col=None):
    """Match radio sources to optical/IR counterparts.

    Parameters
    ----------
    radio, optical : str, Path or astropy Table
        Catalogues with RA/Dec (degrees or sexagesimal); columns found as SPEC says.
    method : {"nn", "best"}
        ``nn``: nearest counterpart within ``radius``; ``best``: pairs that are each other's
        nearest within ``radius``.
    radius : str or Quantity
        Search radius (``"5arcsec"``; plain numbers are arcsec).
    output : str or None
        Table to write (by extension); None writes nothing.
    store : str, Store or None
        Also record the run and the pairs in the catalogue store (table ``xmatches``).

    Returns
    -------
    astropy.table.Table
        One row per accepted pair: radio_id, optical_id, separation_arcsec, rank, lr, reliability
        (``lr`` and ``reliability`` masked for positional methods).
    """
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: this version offers {', '.join(METHODS)} (lr is not built yet)")
    radius_arcsec = parse_angle(radius, "--radius", default_unit=u.arcsec).to_value(u.arcsec)
    radio_positions = read_positions(radio, radio_ra_col, radio_dec_col, radio_id_col)
    optical_positions = read_positions(optical, optical_ra_col, optical_dec_col, optical_id_col)

    def run_match():
        r, o, separation = METHODS[method](
            unit_vectors(radio_positions.table["ra"], radio_positions.table["dec"]),
            unit_vectors(optical_positions.table["ra"], optical_positions.table["dec"]), radius_arcsec)
        order = np.argsort(r, kind="stable")
        r, o, separation = r[order], o[order], separation[order]
        pairs = Table({
            "radio_id": np.asarray(radio_positions.table["name"])[r].astype(str),
            "optical_id": np.asarray(optical_positions.table["name"])[o].astype(str),
            "separation_arcsec": separation,
            "rank": np.ones(len(r), dtype=np.int64),
            "lr": MaskedColumn(np.zeros(len(r)), mask=True),
            "reliability": MaskedColumn(np.zeros(len(r)), mask=True),
        })
        pairs.meta.update({"method": method, "radius_arcsec": radius_arcsec})
        if output is not None:
            write_table(pairs, output)
        return pairs, np.asarray(radio_positions.table["ra"])[r], np.asarray(radio_positions.table["dec"])[r]

    if store is None:
        return run_match()[0]
    from hippo.store import open_store

    database = open_store(store)
    inputs = [p for p in (radio, optical) if not isinstance(p, Table)]
    with database.run("xmatch", {"method": method, "radius_arcsec": radius_arcsec}, inputs=inputs) as recorded:
        pairs, ra, dec = run_match()
        rows = pairs.copy()
        rows["method"], rows["ra"], rows["dec"] = method, ra, dec
        database.insert("xmatches", rows, run_id=recorded.id)
    return pairs
