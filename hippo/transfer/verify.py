"""Checking a backup against its source tree: quick (manifest, object sizes and ETags) or deep
(every object re-read and every file's SHA-256 recomputed)."""

import concurrent.futures
import hashlib
import io
import logging
import sqlite3
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

from hippo.errors import HippoError, InputError
from hippo.progress import progress
from hippo.provenance import sha256_file
from hippo.transfer.backends import TransferError, open_backend
from hippo.transfer.backup import _FileChanged, _sqlite_snapshot
from hippo.transfer.manifest import DATA, ZIP_DAMAGE, BackupState, damaged_key, damaged_record, scan

log = logging.getLogger("hippo.transfer")


def verify(src, dest, *, deep=False, size_only=False, endpoint_url=None, workers=8, exclude=(), retries=4,
           quiet=False):
    """Check that every file, link and directory under ``src`` is held by the latest backup at ``dest``.

    Every file under ``src`` is read and its SHA-256 compared with the manifest's, and each
    object is checked present with the recorded size and ETag. ``size_only`` trusts an unchanged
    size and mtime instead of reading the file (what ``backup`` does to choose what to send; a
    file rewritten in place with its mtime put back goes unnoticed). ``deep`` also downloads
    every object and recomputes the SHA-256 of each file it holds; an object found corrupt is
    marked at ``dest`` so that the next backup sends its files again.

    The latest backup is checked; if its manifest is damaged, that is a problem and the newest
    readable one is checked instead (the next backup writes a new manifest). Without ``exclude``,
    the patterns that backup was taken with apply.

    Returns
    -------
    dict
        ``ok`` (bool), ``checked`` (entries compared), ``objects`` (objects checked),
        ``problems``, a list of ``(path or object key, reason)``, and ``unreadable_sqlite``, the
        paths the backup holds as the raw bytes of a database it could not read (each warned of
        once; they still match, so they are not problems).
    """
    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries)
    # The latest complete backup, what restore would bring back (not a killed run's journals).
    state = BackupState(backend, journals=False)
    if state.latest_key is None:
        raise InputError(backend.url, "no backup found here (no manifest)")
    if state.manifest_key is None:
        raise state.damaged[0]  # nothing readable to check against
    # Without --exclude, the backup's own: files it left out on purpose are not missing from it.
    entries, problems, _ = scan(src, exclude or state.header.get("exclude", ()))
    problems = [(damaged.source, f"{damaged.reason}; checked against {state.manifest_key} instead (the next "
                 "backup writes a new manifest)") for damaged in state.damaged] + problems
    src = Path(src)
    raw = sorted(path for path, entry in state.entries.items() if entry.get("unreadable_sqlite"))
    for path in raw:  # a match, but of bytes that are not a consistent database
        log.warning("warning: %s: the backup holds the raw bytes of a database SQLite could not read "
                    "when it was backed up (%s)", path, state.entries[path]["unreadable_sqlite"])
    bar = progress(total=len(entries), desc="verify", unit="file", quiet=quiet)

    def compare(entry):
        problem = _compare(src, entry, state.entries.get(entry["path"]), size_only)
        bar.update()
        return problem

    # Hashing releases the interpreter: files are read in parallel.
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        problems += [(entry["path"], problem) for entry, problem in zip(entries, pool.map(compare, entries)) if problem]
    bar.close()

    by_object = defaultdict(list)
    for entry in state.entries.values():
        if entry.get("key"):
            by_object[entry["key"]].append(entry)
    present = {o.key: o for o in backend.list(DATA)}
    for key in sorted(by_object):
        recorded, found = state.objects.get(key, {}), present.get(key)
        if found is None:
            problem = f"object missing (holds {_names(by_object[key])})"
        elif found.size != recorded.get("size"):
            problem = f"object is {found.size} bytes, manifest says {recorded.get('size')}"
        elif found.etag and recorded.get("etag") and found.etag != recorded["etag"]:
            problem = f"object ETag {found.etag} differs from manifest {recorded['etag']}"
        else:
            continue
        problems.append((key, f"{problem}; the next backup sends its files again"))  # backup checks this too
    if deep:
        keys = [k for k in sorted(by_object) if k in present]
        bar = progress(total=len(keys), desc="verify --deep", unit="obj", quiet=quiet)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for key, (found, corrupt) in zip(keys, pool.map(lambda k: _deep_check(backend, k, by_object[k]), keys)):
                if corrupt:
                    found = _mark_damaged(backend, key, found)
                problems.extend(found)
                bar.update()
        bar.close()
    return {"ok": not problems, "checked": len(entries), "objects": len(by_object), "problems": problems,
            "unreadable_sqlite": raw}


def _compare(src, entry, recorded, size_only=False):
    if recorded is None:
        return "not in the backup"
    if recorded["type"] != entry["type"]:
        return f"is a {entry['type']}, backup holds a {recorded['type']}"
    if entry["type"] == "link":
        return None if entry["target"] == recorded["target"] else \
            f"link points to {entry['target']!r}, backup has {recorded['target']!r}"
    if entry["type"] != "file":
        return None
    unchanged = (recorded.get("live_size", recorded["size"]) == entry["size"]
                 and recorded["mtime_ns"] == entry["mtime_ns"]
                 and recorded.get("log_mtime_ns") == entry.get("log_mtime_ns"))
    if size_only and unchanged:
        return None
    path = src / entry["path"]
    try:
        if recorded.get("snapshot"):
            with tempfile.TemporaryDirectory(prefix="hippo-verify-") as scratch:
                snapshot = _sqlite_snapshot(path, Path(scratch))
                digest = sha256_file(snapshot or path)
        else:
            digest = sha256_file(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except sqlite3.DatabaseError as exc:  # a damaged database: its snapshot cannot be taken
        return f"an SQLite database that cannot be read ({exc})"
    except _FileChanged:
        return "changed while being read; check again"
    return None if digest == recorded["sha256"] else "content differs from the backup (sha256)"


def _mark_damaged(backend, key, problems):
    """Leave a marker at the destination for object ``key`` found corrupt, so that the next backup
    sends its files again (bit rot keeps an object's size: the backup cannot see it); the problems
    then say so."""
    try:
        backend.put(damaged_key(key), damaged_record(key, problems))
    except HippoError as exc:  # read-only credentials, say: the problems stand as they are
        return problems + [(key, f"could not be marked for the next backup to send again ({exc})")]
    return [(path, f"{reason}; the next backup sends {'its files' if path == key else 'it'} again")
            for path, reason in problems]


def _deep_check(backend, key, entries):
    """Problems found by re-reading object ``key`` and hashing every file it holds, and whether
    they show the object corrupt (not merely unreadable now)."""
    try:
        if key.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(backend.get(key))) as archive:
                problems = []
                for entry in entries:
                    try:
                        digest = hashlib.sha256(archive.read(entry["member"])).hexdigest()
                    except ZIP_DAMAGE as exc:
                        problems.append((entry["path"], f"stored copy in {key} is corrupt ({exc})"))
                        continue
                    if digest != entry["sha256"]:
                        problems.append((entry["path"], f"stored copy in {key} is corrupt (sha256 differs)"))
                return problems, bool(problems)
        with tempfile.TemporaryDirectory(prefix="hippo-verify-") as scratch:
            copy = Path(scratch) / "object"
            backend.get_file(key, copy)
            digest = sha256_file(copy)
        problems = [(e["path"], f"stored copy {key} is corrupt (sha256 differs)")
                    for e in entries if digest != e["sha256"]]
        return problems, bool(problems)
    except ZIP_DAMAGE as exc:
        return [(key, f"object is not a readable zip ({exc}); it holds {_names(entries)}")], True
    except TransferError as exc:
        return [(key, str(exc))], False


def _names(entries):
    names = [e["path"] for e in entries[:3]]
    return ", ".join(names) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
