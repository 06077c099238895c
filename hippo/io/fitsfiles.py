"""FITS file names: which files are FITS, what a file is called without its suffix, and the FITS
files a list of inputs names. Standard library only: ``hippo batch`` plans with it before any
astropy import."""

import errno
import os
import stat
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

    Returns (files, missing): ``missing`` lists (input, reason) for inputs that are neither, and
    for what in a directory cannot be read: entries with a FITS name that are no file (a symbolic
    link loop, a dangling link, a FIFO) and folders that cannot be listed. Callers make an error
    row of each, where skipping them would hide them (and opening a FIFO would wait forever).
    """
    files, missing = [], []
    for item in as_path_list(inputs):
        path = Path(item)
        kind, reason = path_kind(path)
        if kind == "dir":
            found, bad = [], []
            entries, unlisted = _walk(path)
            for entry in entries:
                if is_fits_name(entry.name):
                    entry_kind, entry_reason = path_kind(entry)
                    if entry_kind == "file":
                        found.append(entry)
                    elif entry_kind != "dir":  # a folder named *.fits: the walk lists what it holds
                        bad.append((str(entry), entry_reason))
            if not found and not bad and not unlisted:
                missing.append((str(path), "directory holds no FITS files (.fits, .fits.gz, .fits.fz)"))
            files.extend(found)
            missing.extend(unlisted + bad)
        elif kind == "file":
            files.append(path)
        else:
            missing.append((str(path), reason))
    return files, missing


def _walk(directory):
    """Every path under ``directory``, sorted (links to folders are not followed, as with rglob),
    and (folder, reason) for each folder that cannot be listed."""
    entries, unlisted = [], []

    def unlistable(exc):
        unlisted.append((str(exc.filename), f"cannot list this directory ({(exc.strerror or str(exc)).lower()})"))

    for root, folders, names in os.walk(directory, onerror=unlistable):
        entries.extend(Path(root, name) for name in folders + names)
    return sorted(entries), sorted(unlisted)


def path_kind(path):
    """("file" | "dir" | None, why ``path`` is neither a regular file nor a directory): a link
    loop or a dangling link is said to be one, not "no such file"."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "symbolic link loop (too many levels of symbolic links)"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return None, f"dangling symbolic link (its target {os.readlink(path)} does not exist)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, "no such file or directory"
        return None, (exc.strerror or str(exc)).lower()
    if stat.S_ISDIR(mode):
        return "dir", None
    if stat.S_ISREG(mode):
        return "file", None
    what = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return None, f"not a regular file ({what})"
