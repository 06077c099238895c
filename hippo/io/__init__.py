"""The one input/output layer every command uses: images, tables, coordinates, atomic writes.

Names are imported lazily (as in ``hippo/__init__.py``): a command that needs only column
detection or atomic writes does not pay for astropy.coordinates and astropy.wcs at start-up.
"""

import importlib

# public name -> submodule of hippo.io
_LAZY = {
    "atomic_path": "atomic", "atomic_write_bytes": "atomic", "atomic_write_text": "atomic",
    "iau_name": "coords", "parse_coordinate": "coords", "validate_radec": "coords",
    "Image": "images", "as_image": "images", "read_image": "images",
    "find_position_columns": "columns",
    "FITS_SUFFIXES": "fitsfiles", "find_fits_files": "fitsfiles", "fits_stem": "fitsfiles",
    "is_fits_name": "fitsfiles",
    "Positions": "tables", "read_positions": "tables", "read_table": "tables", "write_table": "tables",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    try:
        module = importlib.import_module(f"hippo.io.{_LAZY[name]}")
    except KeyError:
        raise AttributeError(f"module 'hippo.io' has no attribute {name!r}") from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
