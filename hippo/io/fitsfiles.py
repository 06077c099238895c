"""FITS file names: which files are FITS, what a file is called without its suffix, and the FITS
files a list of inputs names. Standard library only: ``hippo batch`` plans with it before any
astropy import."""

import os
from pathlib import Path

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz")
_LONGEST_FIRST = sorted(FITS_SUFFIXES, key=len, reverse=True)


def is_fits_name(name):
    return str(name).lower().endswith(FITS_SUFFIXES)


def fits_stem(path):
    """The file name without its FITS suffix(es): ``J1512+4540.fits.fz`` -> ``J1512+4540``
    (the whole name when it has no FITS suffix)."""
    name = Path(str(path)).name
    for suffix in _LONGEST_FIRST:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def as_path_list(inputs):
    """``inputs`` as a list: one path (str or Path) is a list of one, not of its characters."""
    if inputs is None:
        return []
    return [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)


def find_fits_files(inputs):
    """FITS files named by ``inputs`` (files, or directories searched recursively, or one such
    path), in order.

    Returns (files, missing): ``missing`` lists (input, reason) for inputs that are neither.
    """
    files, missing = [], []
    for item in as_path_list(inputs):
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_fits_name(p.name))
            if not found:
                missing.append((str(path), "directory holds no FITS files (.fits, .fits.gz, .fits.fz)"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            missing.append((str(path), "no such file or directory"))
    return files, missing
