"""Atomic writes: every output goes to a temporary name in the same directory and is renamed."""

import contextlib
import errno
import os
import re
import tempfile
import threading
from pathlib import Path

from hippo.errors import InputError


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps the final suffix (``suffix`` overrides it), so writers that choose
    a format by extension (astropy, matplotlib) still do. On any exception it is removed, so no
    half-written output is ever left under the final name.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a directory; give a file name for the output")
    directory = path.parent if str(path.parent) else Path(".")
    prefix, ending = _temporary_affixes(path, suffix)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=ending, dir=directory)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    # mkstemp creates the file 0600; give the output the mode any new file gets (0666 less the umask)
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            # A full disk is the output's problem, whichever writer hit it: name the output, not
            # the temporary file (other errors may be the caller's reading an input: kept as they are).
            if disk_full(exc, directory):
                raise InputError(path, "no space left on device") from exc
            raise
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _unwritable(path, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _unwritable(path, exc):
    if disk_full(exc):
        return InputError(path, "no space left on device")
    return InputError(path, f"cannot write here ({exc.strerror or exc})")


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def disk_full(exc, directory=None):
    """Whether ``exc`` (or an error it was raised from) is a full disk or an exceeded quota.

    Writers do not all keep the errno: astropy re-raises it as a message, numpy's ``tofile`` says
    only "N requested and M written". Such an errno-less OSError counts when ``directory``'s file
    system has no free block left.
    """
    chain, link = [], exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    if any(isinstance(link, OSError) and link.errno in _DISK_FULL for link in chain):
        return True
    if directory is None or not isinstance(exc, OSError) or exc.errno is not None:
        return False
    try:
        return os.statvfs(directory).f_bavail == 0
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def check_writable(path, folder=False):
    """Refuse, before any work, an output that could not be written: an InputError naming it.

    ``path`` is a file to be written with :func:`atomic_path` (which makes missing folders), or
    with ``folder`` a folder to be made or written into.
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise InputError(path, "is a file, not a folder")
    if not folder and path.is_dir():
        raise InputError(path, "is a directory; give a file name for the output")
    ancestor = path if folder else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:  # made when written; checked now
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(path, f"cannot write here ({ancestor} is a file, not a folder)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(path, "cannot write here (Permission denied)")


def is_temporary_of(name, path, suffix=None):
    """Whether the file ``name`` beside ``path`` is a temporary file of ``atomic_path(path, suffix)``:
    one left behind by a writer that was killed. Such names (``.NAME.XXXXXXXX.part`` and the
    suffix, X from mkstemp's alphabet) are made for nothing else."""
    prefix, ending = _temporary_affixes(Path(path), suffix)
    return re.fullmatch(re.escape(prefix) + "[a-z0-9_]{8}" + re.escape(ending), name, re.DOTALL) is not None


_UMASK_LOCK = threading.Lock()
_NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems


def _temporary_affixes(path, suffix):
    """The prefix and the ending atomic_path gives the temporary file of ``path``."""
    ending = ".part" + (suffix if suffix is not None else _suffixes(path))
    return f".{_shortened(path.name, len(ending))}.", ending


def _shortened(name, ending_bytes):
    """``name``, cut so that ``.NAME.XXXXXXXX`` plus the ending fits in one file name: a final
    name of 255 bytes must still get a temporary name to be written under."""
    room = _NAME_MAX - ending_bytes - 10  # the leading dot, mkstemp's 8 random characters, a dot
    encoded = os.fsencode(name)
    # A character cut in half is only bytes in a temporary name: the file system takes them.
    return name if len(encoded) <= room else os.fsdecode(encoded[:room])


def _current_umask():
    # umask can only be read by setting it: the lock keeps parallel writers (cutout workers) from
    # reading each other's temporary value and giving their files the wrong mode.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _suffixes(path):
    # Keep compound endings such as .fits.gz so writers pick the right format.
    return "".join(path.suffixes[-2:]) if path.name.endswith((".fits.gz", ".fits.fz")) else path.suffix


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
