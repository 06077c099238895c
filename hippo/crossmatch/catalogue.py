"""Catalogues for cross-matching as plain arrays: positions, ids and the columns a method needs.

FITS tables are read column by column through a memory map (no copy of unused columns, no
per-row Python objects), so a 1e7-row optical catalogue costs only the columns used. Other
formats and in-memory Tables go through ``hippo.io``. Columns are found as SPEC says (UCD or
common names, or named by the user).
"""

import warnings

import numpy as np

from hippo.errors import InputError
from hippo.io.columns import find_column, find_position_columns
from hippo.io.coords import validate_radec
from hippo.io.fitsfiles import path_kind
from hippo.io.tables import EMPTY_TABLE, keep_leading_zeros, position_degrees

FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz")

# Positional errors: RA and Dec pairs, then single (circular) columns. Compared lower-case.
ERROR_PAIRS = (("e_ra", "e_dec"), ("ra_err", "dec_err"), ("ra_error", "dec_error"), ("e_raj2000", "e_dej2000"),
               ("era", "edec"), ("sigra", "sigdec"), ("ra_sigma", "dec_sigma"), ("err_ra", "err_dec"),
               ("e_ra_icrs", "e_de_icrs"), ("raerr", "decerr"), ("rameanerr", "decmeanerr"))
ERROR_SINGLE = ("sigma", "pos_err", "poserr", "e_pos", "err_pos", "position_error", "sigma_pos", "errhalfmaj")
MAG_NAMES = ("mag", "magnitude")
FLUX_NAMES = ("total_flux", "flux", "s_int", "int_flux", "flux_int", "total_flux_density", "peak_flux", "s_peak")
SIZE_NAMES = ("maj", "dc_maj", "major", "maj_axis", "majax", "deconv_maj")


class Catalogue:
    """Usable rows of one catalogue: ``ra``, ``dec`` (degrees), raw ``ids`` and column access.

    Rows without a usable position (``rejected_mask``; ``reasons``: row index -> why) are left
    out and listed in ``rejected`` as ``(row_number, reason)`` (row numbers from 1). Rows whose id is masked or blank are named
    by their position (IAU name).
    """

    def __init__(self, source, columns, colnames, units, ra, dec, ids, id_column, rejected_mask, reasons):
        self.source = source
        self._columns = columns
        self.colnames = colnames
        self._units = units
        self._keep = np.flatnonzero(~rejected_mask) if rejected_mask.any() else None
        self.ra = self._usable(ra)
        self.dec = self._usable(dec)
        self.ids = None if ids is None else self._usable(np.ma.getdata(ids))
        # A masked id (a NULL in the input) must not leak the value hidden under the mask.
        id_masked = np.ma.getmaskarray(ids) if ids is not None else None
        self._id_masked = self._usable(id_masked) if id_masked is not None and id_masked.any() else None
        self.id_column = id_column
        self.rejected = [(i + 1, reasons[i]) for i in np.flatnonzero(rejected_mask).tolist()]
        if len(self.ra) == 0:
            first, reason = self.rejected[0]
            raise InputError(source, f"no row has a usable position (row {first}: {reason}, ...)")

    def __len__(self):
        return len(self.ra)

    def _usable(self, values):
        values = np.asarray(values)
        return values if self._keep is None else values[self._keep]

    def find(self, explicit, candidates, role):
        """The column named ``explicit`` (InputError if absent), else the first of ``candidates``
        present (case-insensitive), else None."""
        return find_column(self, explicit, None, candidates, role, False, self.source)

    def values(self, name, unit=None):
        """Column ``name`` of the usable rows as float64, converted to ``unit`` when the column
        declares a compatible unit (columns without a unit are taken to be in ``unit``)."""
        values = _masked_column(self._columns, name)  # masked values become NaN
        if values.dtype.kind not in "fiub":
            raise InputError(self.source, f"column {name!r} is not numeric")
        values = np.ma.filled(values.astype(np.float64), np.nan)
        declared = self._units.get(name)
        if unit is not None and declared and declared.strip() != unit:
            from astropy import units as u

            try:
                values = (values * u.Unit(declared, parse_strict="silent")).to_value(unit)
            except (u.UnitsError, ValueError, TypeError):
                pass  # a unit astropy cannot convert (e.g. 'beam-1 mJy' to mag): trust the numbers
        return self._usable(values)

    def unit(self, name):
        """The unit column ``name`` declares, or None."""
        return self._units.get(name)

    def names(self, rows):
        """Source names of the given usable rows: the id column (integers, or text stripped of
        blanks: bytes as FITS holds them, else str), else IAU names. Rows with a masked or blank
        id get their IAU name (and then every name is text, so the column type does not depend
        on which rows matched)."""
        if self.ids is None:
            return self._iau_names(rows)
        values = self.ids[rows]
        if values.dtype.kind in "iu" and self._id_masked is None:  # integer ids stay integers
            return values
        names = np.char.strip(values if values.dtype.kind in "SU" else values.astype(str))
        missing = names == (b"" if names.dtype.kind == "S" else "")
        if self._id_masked is not None:
            missing |= self._id_masked[rows]
        if not missing.any():
            return names
        names = as_text(names).astype(object)
        names[missing] = self._iau_names(np.asarray(rows)[missing])
        return names.astype(str)

    def duplicated_ids(self):
        """(how many ids more than one row carries, the first of them, its row count), or None.
        Rows named by their position (no, blank or masked id) do not count."""
        if self.ids is None:
            return None
        ids = self.ids if self.ids.dtype.kind in "iuSU" else self.ids.astype(str)
        named = np.ones(len(ids), dtype=bool) if self._id_masked is None else ~self._id_masked
        if ids.dtype.kind in "SU":
            ids = np.char.strip(ids)
            named &= ids != ids.dtype.type()
        ids = ids[named]
        if not np.all(ids[1:] > ids[:-1]):  # sorted already (names often are): no sort needed
            ids = np.sort(ids)
        repeats = ids[1:] == ids[:-1]
        if not repeats.any():
            return None
        # in sorted ids, each repeated id appears (its row count - 1) times among the repeats
        repeated, extra_rows = np.unique(ids[1:][repeats], return_counts=True)
        example = repeated[0]
        example = example.decode("utf-8", "replace") if isinstance(example, bytes) else str(example)
        return len(repeated), example, int(extra_rows[0]) + 1

    def _iau_names(self, rows):
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        from hippo.io import iau_name

        return np.array([iau_name(SkyCoord(self.ra[i] * u.deg, self.dec[i] * u.deg)) for i in rows], dtype=str)


def as_text(values):
    """Names as str: bytes (ids as FITS holds them) decoded as UTF-8, the encoding hippo writes
    non-ASCII ids in; numbers written out."""
    return np.char.decode(values, "utf-8") if values.dtype.kind == "S" else values.astype(str)


def read_catalogue(source, ra_col=None, dec_col=None, id_col=None):
    """Read a catalogue (path or astropy Table) for matching.

    FITS files are memory-mapped and only the needed columns are converted; sexagesimal position
    columns and other formats go through ``hippo.io``.
    """
    if hasattr(source, "colnames"):  # an astropy Table
        label, columns, names, finder = "table", source, list(source.colnames), source
    elif str(source).lower().endswith(FITS_SUFFIXES):
        label, columns = str(source), _fits_columns(source)
        names = list(columns.names)
        finder = _NamesOnly(names)
    else:
        from hippo.io import read_table

        label, columns = str(source), read_table(source)
        names, finder = list(columns.colnames), columns
    if len(columns) == 0:
        raise InputError(label, EMPTY_TABLE)
    units = _units(columns, names)
    ra_name, dec_name, id_name = find_position_columns(finder, ra_col, dec_col, id_col, label)
    if id_name is not None and label.lower().endswith(".csv"):  # CSV has no types: 007 was guessed to be 7
        columns = keep_leading_zeros(columns, source, id_name)
    positions = None
    if np.asarray(columns[ra_name]).dtype.kind in "fiu" and np.asarray(columns[dec_name]).dtype.kind in "fiu":
        ra = position_degrees(_floats(columns[ra_name]), units.get(ra_name), ra_name, label, is_ra=True)
        dec = position_degrees(_floats(columns[dec_name]), units.get(dec_name), dec_name, label, is_ra=False)
    else:  # sexagesimal strings: parsed row by row by the input layer
        from astropy.table import Table

        from hippo.io import read_positions

        table = columns if hasattr(columns, "colnames") else Table(columns)
        positions = read_positions(table, ra_col, dec_col, id_col, source=label)
        ra, dec = _positions_on_rows(positions, len(table))
    ids = None if id_name is None else _masked_column(columns, id_name)
    problems = validate_radec(ra, dec)  # the input layer's rules, so that the two cannot drift apart
    rejected = problems != ""
    reasons = {row: problems[row] for row in np.flatnonzero(rejected).tolist()}
    with np.errstate(invalid="ignore"):
        ra = np.mod(ra, 360.0)  # catalogues in the -180..180 convention: RA -5 is RA 355
    if positions is not None:  # sexagesimal: the input layer's reasons say what the cell holds
        reasons.update((row - 1, reason) for row, _, reason in positions.rejected)
    return Catalogue(label, columns, names, units, ra, dec, ids, id_name, rejected, reasons)


class _NamesOnly:
    """What column detection needs of a FITS table: its column names (FITS carries no UCDs)."""

    def __init__(self, names):
        self.colnames = names

    def __getitem__(self, name):
        return None


def _fits_columns(path):
    from astropy.io import fits

    kind, reason = path_kind(path)
    if kind is None:  # missing, a link loop, a dangling link or a FIFO (opening one would wait forever)
        raise InputError(path, reason)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True) as hdus:
                for hdu in hdus:
                    if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) and hdu.data is not None:
                        return hdu.data
    except OSError as exc:
        raise InputError(path, f"cannot read as FITS table ({exc})") from None
    raise InputError(path, "no table HDU in this FITS file")


def _masked_column(columns, name):
    """Column ``name`` with missing values masked: a Table's mask, or in a memory-mapped FITS table
    the TNULL of an integer column (which the memory map hands over as a value), as Table.read does."""
    values = np.ma.asarray(columns[name])
    null = columns.columns[name].null if _is_fits_rec(columns) else None
    if null is not None and values.dtype.kind in "iu":
        values = np.ma.MaskedArray(values, mask=values == null)
    return values


def _is_fits_rec(columns):
    return hasattr(columns, "columns") and hasattr(columns.columns, "units")


def _units(columns, names):
    if _is_fits_rec(columns):
        return {name: unit for name, unit in zip(names, columns.columns.units) if unit}
    return {name: str(columns[name].unit) for name in names if getattr(columns[name], "unit", None) is not None}


def _floats(column):
    return np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan)


def _positions_on_rows(positions, n_rows):
    """RA/Dec per input row (NaN where the input layer rejected the row)."""
    ra, dec = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    good = np.ones(n_rows, dtype=bool)
    good[[row - 1 for row, _, _ in positions.rejected]] = False
    ra[good], dec[good] = positions.table["ra"], positions.table["dec"]
    return ra, dec
