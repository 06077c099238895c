"""Read and write tables by extension; find RA/Dec/ID columns by UCD or common names."""

import codecs
import contextlib
import csv
import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Column, MaskedColumn, Table

from hippo.errors import InputError, UsageError
from hippo.io.atomic import atomic_path
from hippo.io.columns import find_position_columns
from hippo.io.coords import angle_degrees, iau_name, validate_radec
from hippo.io.fitsfiles import path_kind

_FORMATS = {
    ".csv": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".vot": "votable",
    ".xml": "votable",
    ".votable": "votable",
    ".parquet": "parquet",
}

# Unit spellings compared lower-case, astropy's and those it does not parse (FITS "DEG", "HOURS").
_DEGREE_SPELLINGS = ("deg", "degree", "degrees")
_HOUR_SPELLINGS = ("h", "hr", "hour", "hours")
# an integer written with leading zeros (007, -01): a code rather than a number
_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")

# meta keys astropy's from_table already writes as attributes of the TABLE element
_VOTABLE_TABLE_ATTRIBUTES = ("ID", "name", "ref", "ucd", "utype", "description")

# What every command says of a table without rows, and of an empty file
EMPTY_TABLE = "empty table (no rows)"
EMPTY_FILE = "empty table (the file is empty)"

# Python's csv module (astropy's ECSV reader uses it) refuses a field over 128 KiB, and a run's
# log in the store can be longer. 2**31 - 1, not sys.maxsize: the limit is a C long, 32 bits on Windows.
_CSV_FIELD_LIMIT = 2**31 - 1


def table_format(path):
    """The astropy format name for a table path, chosen by its extension."""
    name = str(path).lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return _FORMATS[suffix]
    raise UsageError(f"{path}: unknown table format (use .csv, .ecsv, .fits, .vot/.xml or .parquet)")


def read_table(path):
    """Read a table by extension; InputError naming the file and the reason if it cannot be read."""
    path = Path(path)
    fmt = table_format(path)
    kind, reason = path_kind(path)
    if kind is None:  # missing, a link loop, a dangling link or a FIFO (reading one would wait forever)
        raise InputError(path, reason)
    try:
        source = _csv_source(path) if fmt == "ascii.csv" else path
        with warnings.catch_warnings(), _long_csv_fields():
            warnings.simplefilter("ignore")
            table = _read_parquet(path) if fmt == "parquet" else Table.read(source, format=fmt)
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                               "save it as UTF-8") from None
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(path, f"cannot read as {fmt} table ({first_line})") from None
    if fmt == "votable":
        table = _empty_text_as_null(table)
    if fmt == "ascii.csv" and len(table.colnames) == 1:
        _check_delimiter(table.colnames[0], path)
    if table.colnames and table.colnames[0].startswith("\ufeff"):
        # Excel's "CSV UTF-8" starts with a byte-order mark, which astropy keeps in the first name
        table.rename_column(table.colnames[0], table.colnames[0].lstrip("\ufeff"))
    return table


def _csv_source(path):
    """What astropy reads for a CSV file: its path, or the decoded lines of a UTF-16 file (Excel's
    "Unicode text", PowerShell's default), which astropy would take for broken UTF-8. InputError
    for an empty file, and for an unterminated quote, with which astropy reads no rows or silently
    drops every row after it. A UTF-8 file is read here in chunks (catalogues run to gigabytes)."""
    utf16 = _csv_encoding(path) == "utf-16"
    if utf16:
        text = path.read_bytes().decode("utf-16")
        blank, quotes = not text or text.isspace(), text.count('"')
    else:
        text, blank, quotes = None, True, 0
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 24):
                blank = blank and chunk.isspace()
                quotes += chunk.count(b'"')
    if blank:
        raise InputError(path, EMPTY_FILE)
    # Quotes come in pairs but for an unterminated one or a literal quote (45d40'26"): csv tells them apart
    if quotes % 2:
        with (io.StringIO(text, newline="") if utf16 else open(path, encoding="utf-8", errors="replace",
                                                              newline="")) as lines, _long_csv_fields():
            reader, row_start = csv.reader(lines, strict=True), 1
            try:
                for _ in reader:
                    row_start = reader.line_num + 1
            except csv.Error as exc:
                if "end of data" in str(exc):
                    raise InputError(path, f"unterminated quote on line {row_start}: the rest of the file would "
                                           "be read as one value") from None
    return path if text is None else text.replace("\r\n", "\n").split("\n")


def _csv_encoding(path):
    """``utf-16`` for a file that starts with a UTF-16 byte-order mark (Excel's "Unicode text",
    PowerShell's default), else ``utf-8-sig`` (UTF-8, with or without Excel's mark)."""
    with open(path, "rb") as stream:
        return "utf-16" if stream.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"


def _check_delimiter(name, path):
    """InputError for a CSV read as one column because it is separated by something else than commas."""
    for delimiter, called in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if delimiter in name:
            raise InputError(path, f"only one column found: the table seems to use {called} as delimiter "
                                   "(HIPPO reads comma-separated CSV; save it with ',')")


@contextlib.contextmanager
def _long_csv_fields():
    """Python's csv module reads fields of any length inside the block (a run's log can be over 128 KiB)."""
    previous = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _empty_text_as_null(table):
    """A VOTable ``table`` with its empty text values masked, as missing.

    VOTable cannot tell a missing text value from an empty one: astropy writes both as an empty
    cell in TABLEDATA, and reading BINARY2 it ignores the null flags of text columns. An empty cell
    is read as missing, as it is in CSV, ECSV and FITS; only Parquet keeps '' apart from NULL.
    (Numbers keep their own nulls; the spaces around a cell's text are lost in VOTable too.)"""
    for name in table.colnames:
        column = table[name]
        if isinstance(column, Column) and column.dtype.kind in "SU" and column.ndim == 1:
            empty = np.char.str_len(np.ma.getdata(column)) == 0
            if empty.any():
                table[name] = MaskedColumn(column, mask=np.ma.getmaskarray(column) | empty, copy=False)
    return table


def keep_leading_zeros(table, path, name):
    """Column ``name`` of a CSV ``table`` back as the file's text when it was read as integers but
    some value has leading zeros: an id 007 read as 7 would collide with a 7 and never join back.
    Integers without leading zeros stay integers; other formats keep their declared types."""
    if table_format(path) != "ascii.csv" or table[name].dtype.kind not in "iu":
        return table
    # streamed, not read whole: a decoded copy of a 2M-row catalogue costs hundreds of MB
    with _long_csv_fields(), open(path, newline="", encoding=_csv_encoding(path), errors="replace") as stream:
        # astropy's CSV reader skips blank lines and has no comments; the header is the first line
        rows = (row for row in csv.reader(stream) if row and not (len(row) == 1 and not row[0].strip()))
        header = [cell.strip() for cell in next(rows, [])]
        if header.count(name) != 1:
            return table
        position = header.index(name)
        text = [row[position].strip() if position < len(row) else "" for row in rows]
    if len(text) != len(table) or not any(_LEADING_ZERO.match(value) for value in text):
        return table
    table[name] = MaskedColumn(text, mask=np.ma.getmaskarray(table[name]), unit=table[name].unit,
                               description=table[name].description, meta=table[name].meta)
    return table


def _read_parquet(path):
    # astropy's reader needs pandas; pyarrow alone (a dependency already) does the job.
    # Nulls come back masked: to_numpy alone would make null integers floats and null text ''.
    import pyarrow
    import pyarrow.parquet

    arrow = pyarrow.parquet.read_table(path)
    table = Table()
    for name, column in zip(arrow.column_names, arrow.columns):
        nulls = column.null_count > 0
        if nulls:
            mask = column.is_null().to_numpy(zero_copy_only=False)
            fill = _arrow_null_fill(column.type)
            if fill is not None:
                column = column.fill_null(pyarrow.scalar(fill, type=column.type))
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object:
            values = np.array(["" if v is None else str(v) for v in values], dtype=str)
        table[name] = MaskedColumn(values, mask=mask) if nulls else values
    return table


def _arrow_null_fill(arrow_type):
    """The value under the mask for a null of ``arrow_type`` (None: leave nulls to pyarrow)."""
    import pyarrow

    if pyarrow.types.is_string(arrow_type) or pyarrow.types.is_large_string(arrow_type):
        return ""
    if pyarrow.types.is_floating(arrow_type):
        return np.nan
    if pyarrow.types.is_integer(arrow_type):
        return 0
    if pyarrow.types.is_boolean(arrow_type):
        return False
    return None


def write_table(table, path=None, *, overwrite=True):
    """Write a table by extension, atomically; ``path=None`` writes CSV to stdout (SPEC: no -o)."""
    if path is None or str(path) == "-":
        buffer = io.StringIO()
        table.write(buffer, format="ascii.csv")
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return
    fmt = table_format(path)
    table = _serialisable(table, fmt)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "votable":
                _votable_with_meta(table).to_xml(str(tmp))
            elif fmt == "parquet" and _has_nulls(table):
                _write_parquet_with_nulls(table, tmp)
            else:
                table.write(tmp, format=fmt, overwrite=True)


def _has_nulls(table):
    return any(isinstance(table[name], MaskedColumn) and table[name].ndim == 1 for name in table.colnames) \
        and not table.has_mixin_columns


def _write_parquet_with_nulls(table, path):
    """Parquet with masked values as real nulls. astropy's writer stores a masked column as its
    data (0 or '' under the mask) beside a ``<name>.mask`` column, which pandas, DuckDB, polars
    and hippo itself read as values. The schema metadata is astropy's (column types, table meta
    with the provenance), so astropy still reads the file."""
    import pyarrow
    import pyarrow.parquet
    from astropy.table import meta as table_meta

    plain = table.filled()  # the columns as astropy describes them unmasked: no <name>.mask
    metadata = {"table_meta_yaml": "\n".join(table_meta.get_yaml_from_table(plain))}
    arrays = []
    for name in table.colnames:
        column = table[name]
        data = np.asarray(plain[name])
        if data.dtype.kind == "U":
            metadata[f"table::len::{name}"] = str(data.dtype.itemsize // 4)
        elif data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        mask = np.ma.getmaskarray(column) if isinstance(column, MaskedColumn) else None
        arrays.append(pyarrow.array(data, mask=mask if mask is not None and mask.any() else None))
    schema = pyarrow.schema([(name, array.type) for name, array in zip(table.colnames, arrays)],
                            metadata={k.encode(): v.encode() for k, v in metadata.items()})
    pyarrow.parquet.write_table(pyarrow.Table.from_arrays(arrays, schema=schema), str(path), version="2.4")


def _votable_with_meta(table):
    """The table as a VOTable whose RESOURCE carries one INFO per meta key (one per HISTORY line):
    astropy's VOTable writer drops meta, and with it the provenance every other format keeps."""
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info

    votable = from_table(table)
    resource = votable.resources[0]
    for key, value in table.meta.items():
        if key in _VOTABLE_TABLE_ATTRIBUTES:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            info = Info(name=str(key), value=str(item))
            info.ID = None  # Info takes its name as ID, and repeated IDs (HISTORY) are invalid XML
            resource.infos.append(info)
    return votable


def _serialisable(table, fmt):
    # FITS/VOTable cannot hold Python objects: object columns of strings become str columns.
    if fmt in ("fits", "votable", "parquet"):
        table = table.copy(copy_data=False)
        for name in table.colnames:
            if table[name].dtype == object:
                table[name] = [("" if v is None else str(v)) for v in table[name]]
            if fmt == "fits" and table[name].dtype.kind == "U" and not _is_ascii(table[name]):
                # FITS text is ASCII: other text as UTF-8 bytes, as xmatch writes its FITS ids
                column = table[name]
                table[name] = MaskedColumn(np.char.encode(np.ma.getdata(column), "utf-8"), mask=np.ma.getmaskarray(column),
                                           unit=column.unit, description=column.description, meta=column.meta)
    return table


def _is_ascii(column):
    return all(str(value).isascii() for value in np.ma.getdata(column).ravel())


@dataclass
class Positions:
    """Positions read from a table: the usable rows and a reason for each unusable one.

    ``table`` holds only the usable rows, with the original columns plus ``name``, ``ra``, ``dec``
    in degrees (ICRS). ``rejected`` is a list of ``(row_number, name, reason)`` (row numbers
    count from 1 as a user reading the file would).
    """

    table: Table
    rejected: list

    @property
    def coords(self):
        return SkyCoord(self.table["ra"] * u.deg, self.table["dec"] * u.deg, frame="icrs")

    def __len__(self):
        return len(self.table)


def read_positions(path_or_table, ra_col=None, dec_col=None, id_col=None, source=None):
    """Read a table of sky positions; rows with bad coordinates are set aside with a reason.

    RA/Dec columns are taken in degrees unless the column carries another angular unit, or the
    values are sexagesimal strings (RA in hours). Raises InputError when no usable column exists
    or no row is usable.
    """
    if isinstance(path_or_table, Table):
        table, source = path_or_table, source or "table"
    else:
        source = source or str(path_or_table)
        table = read_table(path_or_table)
    if len(table) == 0:
        raise InputError(source, EMPTY_TABLE)
    ra_name, dec_name, id_name = find_position_columns(table, ra_col, dec_col, id_col, source)
    if id_name is not None and not isinstance(path_or_table, Table):  # ids 0007 and 7 are not one source
        table = keep_leading_zeros(table, path_or_table, id_name)
    ra_deg, ra_unreadable = _column_degrees(table[ra_name], is_ra=True, source=source)
    dec_deg, dec_unreadable = _column_degrees(table[dec_name], is_ra=False, source=source)
    problems = validate_radec(ra_deg, dec_deg)
    for i in set(ra_unreadable) | set(dec_unreadable):  # what the cell holds, not "not a number"
        problems[i] = "; ".join(filter(None, (ra_unreadable.get(i), dec_unreadable.get(i))))
    good = problems == ""

    out = table.copy()
    for reserved in ("ra", "dec", "name"):
        if reserved in out.colnames and reserved not in (ra_name, dec_name, id_name):
            out.rename_column(reserved, f"{reserved}_input")
    with np.errstate(invalid="ignore"):
        out["ra"] = np.mod(ra_deg, 360.0)  # -5 (the -180..180 convention) is 355, as xmatch has it
    out["dec"] = dec_deg
    given = [""] * len(table)
    if id_name is not None:  # a masked or blank id is no name (str() of a masked value is "--")
        masked = np.ma.getmaskarray(table[id_name])
        given = ["" if hidden else str(value).strip() for value, hidden in zip(table[id_name], masked)]
    names = [text or (iau_name(SkyCoord(r * u.deg, d * u.deg)) if ok else f"row{i + 1}")
             for i, (text, r, d, ok) in enumerate(zip(given, ra_deg, dec_deg, good))]
    out["name"] = names
    rejected = [(i + 1, names[i], problems[i]) for i in np.flatnonzero(~good)]
    out = out[good]
    if len(out) == 0:
        raise InputError(source, f"no row has a usable position ({rejected[0][2]} in row {rejected[0][0]}, ...)")
    return Positions(table=out, rejected=rejected)


def position_degrees(values, unit, name, source, is_ra):
    """Numeric RA or Dec values in degrees by their column's unit (none: degrees). A time unit on
    RA (FITS and VizieR write hours as ``h``) is hours of RA, 15 degrees each; any other unit that
    is not an angle is an InputError, since numbers in an unknown unit cannot be placed on the sky."""
    text = str(unit).strip() if unit is not None else ""
    if not text or text.lower() in _DEGREE_SPELLINGS:
        return values
    if is_ra and text.lower() in _HOUR_SPELLINGS:  # also those astropy does not parse ("hours", "HOURS")
        return values * 15.0
    try:
        parsed = u.Unit(text, parse_strict="silent")
        if is_ra and parsed.is_equivalent(u.hour):
            return (values * parsed).to_value(u.hour) * 15.0
        return (values * parsed).to_value(u.deg)
    except (u.UnitsError, ValueError, TypeError):
        raise InputError(source, f"{'RA' if is_ra else 'Dec'} column {name!r} has unit {text!r}, which is not an "
                                 "angle: give it in degrees (or RA in hours)") from None


def _column_degrees(column, is_ra, source):
    """Column values in degrees: numbers (with unit if any; RA in hours too) or sexagesimal strings;
    NaN where bad. Returns (values, {row index: why} for text that is no angle). InputError for a
    unit that is not an angle."""
    if column.dtype.kind in "fiu":
        values = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
        return position_degrees(values, getattr(column, "unit", None), column.name, source, is_ra), {}
    values, unreadable = np.full(len(column), np.nan), {}
    with warnings.catch_warnings():  # once for the column, not per cell (it cost a fifth of the parse)
        warnings.simplefilter("ignore")
        for i, raw in enumerate(np.ma.filled(np.ma.asarray(column), "")):
            values[i], why = angle_degrees(raw, is_ra)
            if why:
                unreadable[i] = why
    return values, unreadable
