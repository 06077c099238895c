"""What produced a result: software versions, host, inputs with checksums, as recorded everywhere."""

import functools
import getpass
import hashlib
import importlib.metadata
import os
import platform
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from hippo._version import __version__

_DEPENDENCIES = ("numpy", "scipy", "astropy", "astroquery", "photutils", "regions", "reproject",
                 "matplotlib", "torch", "boto3", "pyarrow", "astropy-healpix")


def software_versions():
    """Versions of Python, HIPPO and the libraries whose behaviour shapes its results."""
    return dict(_software_versions())


@functools.cache  # installed versions do not change under a running process; reading them costs ms
def _software_versions():
    versions = {"python": platform.python_version(), "hippo": __version__}
    for name in _DEPENDENCIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def sha256_file(path, chunk_size=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def describe_inputs(paths, checksum_limit=256 << 20):
    """Path, size and SHA-256 of each input file (checksum skipped above ``checksum_limit`` bytes,
    so recording a multi-GB mosaic does not read it whole; directories are listed as such)."""
    described = []
    for path in paths:
        path = Path(path)
        entry = {"path": str(path.resolve()) if path.exists() else str(path)}
        if path.is_file():
            size = path.stat().st_size
            entry["size"] = size
            try:
                entry["sha256"] = sha256_file(path) if size <= checksum_limit else None
            except OSError as exc:  # the run goes on and reports that input itself
                entry["sha256"], entry["unreadable"] = None, exc.strerror or str(exc)
        elif path.is_dir():
            entry["kind"] = "directory"
        else:
            entry["kind"] = "missing"
        described.append(entry)
    return described


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def environment_summary():
    """Host, user and command line of this process."""
    try:
        user = getpass.getuser()
    except Exception:
        user = os.environ.get("USER", "")
    return {"host": socket.gethostname(), "user": user, "argv": sys.argv, "cwd": os.getcwd(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID")}


def fits_provenance_cards(command, parameters=None):
    """FITS header cards (keyword, value, comment) that say which HIPPO run wrote a product: the
    version and time, one HISTORY line per parameter, then the software versions and where and
    how it ran (host, user, command line)."""
    cards = [("HIPPOVER", __version__, "HIPPO version"),
             ("HIPPOCMD", command[:68], "HIPPO command that wrote this file"),
             ("HIPPODAT", utc_now()[:19], "UTC time written")]
    for name, value in (parameters or {}).items():
        # not cut short: astropy continues a long HISTORY card on the next (input paths run long)
        cards.append(("HISTORY", f"hippo {command} {name}={value}", None))
    versions = ", ".join(f"{name} {version}" for name, version in software_versions().items() if version)
    environment = environment_summary()
    cards.append(("HISTORY", f"hippo {command} software: {versions}", None))
    cards.append(("HISTORY", f"hippo {command} ran on {environment['host']} as {environment['user']}: "
                             f"{' '.join(environment['argv'])}", None))
    return cards


def add_provenance(table, command, parameters=None):
    """Put :func:`fits_provenance_cards` into a result table's meta (HISTORY as a list), so that
    every table format that keeps meta (FITS, ECSV, VOTable) says which run wrote it."""
    for keyword, value, _ in fits_provenance_cards(command, parameters):
        if keyword == "HISTORY":
            table.meta.setdefault("HISTORY", []).append(value)
        else:
            table.meta[keyword] = value
    return table
