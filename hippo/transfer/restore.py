"""Rebuilding a tree from a backup: byte-identical files, symlinks as links, modes and mtimes."""

import concurrent.futures
import contextlib
import datetime
import fnmatch
import hashlib
import io
import logging
import os
import zipfile
from collections import defaultdict
from pathlib import Path

from hippo.errors import InputError, UsageError
from hippo.io.atomic import atomic_path, is_temporary_of
from hippo.progress import progress
from hippo.provenance import sha256_file
from hippo.transfer.backends import TransferError, open_backend
from hippo.transfer.manifest import (MANIFESTS, SQLITE_SIDE_FILES, ZIP_DAMAGE, BackupState, DamagedManifest,
                                     choose_manifest, is_sqlite, manifest_keys, read_header, run_started)

log = logging.getLogger("hippo.transfer")
RAW_SQLITE_WARNING = "restored from raw bytes of a database SQLite could not read when it was backed up"


def restore(dest, target, *, include=(), as_of=None, manifest=None, endpoint_url=None, workers=8, retries=4,
            quiet=False):
    """Restore a backup at ``dest`` (the latest, or an older one) into the directory ``target``.

    Parameters
    ----------
    dest : str
        ``s3://bucket/prefix`` or a local backup directory.
    target : str or path
        Directory to rebuild the tree in (created if needed; files there are replaced).
    include : sequence of str
        Restore only paths matching one of these glob patterns, or lying under a directory
        they name (``cutouts`` restores ``cutouts/...``). Default: everything.
    as_of : datetime or str, optional
        Restore the tree as the last backup that started at or before this time saw it
        (ISO 8601; UTC unless an offset is given; a date alone means the end of that day).
    manifest : str, optional
        Restore the backup of this run id (or a unique prefix of it, or its manifest key),
        as listed by :func:`list_backups`.

    Returns
    -------
    dict
        ``files``, ``links``, ``dirs``, ``bytes`` restored, ``manifest`` (the key restored
        from), ``failures`` (path, reason) and ``unreadable_sqlite`` (paths restored from the raw
        bytes of a database the backup could not read: not a consistent snapshot; each warned of).
    """
    if as_of is not None and manifest is not None:
        raise UsageError("give --as-of or --manifest, not both")
    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries)
    # A manifest only, never the journals of a run that was killed: those hold part of a tree
    # that never existed as a whole (some files new, others not yet sent).
    when = parse_time(as_of) if as_of is not None else None
    state = BackupState(backend, manifest=choose_manifest(backend, as_of=when, run=manifest))
    target = Path(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(target, "not a directory") from None
    except OSError as exc:
        raise InputError(target, f"cannot make this directory ({exc.strerror or exc})") from None
    chosen = [e for e in sorted(state.entries.values(), key=lambda e: e["path"]) if _wanted(e["path"], include)]
    if include and not chosen:
        raise InputError(", ".join(include), f"--include matches nothing in the backup {state.manifest_key}")
    failures = _make_directories(target, chosen)
    in_the_way = {path for path, _ in failures}
    chosen = [e for e in chosen if e["path"] not in in_the_way]
    _remove_temporaries_of_a_killed_restore(target, [e for e in chosen if e["type"] == "file"])
    by_object = defaultdict(list)
    for entry in chosen:
        if entry["type"] == "file":
            by_object[entry["key"]].append(entry)
    total = sum(e["size"] for e in chosen if e["type"] == "file")
    bar = progress(total=total, desc="restore", unit="B", unit_scale=True, quiet=quiet)

    def restore_object(key):
        try:
            return restore_entries_of(key)
        except TransferError as exc:
            # One object gone or unreadable costs its files, not the rest of the tree.
            return [(entry["path"], f"not restored: {exc}") for entry in by_object[key]]

    def restore_entries_of(key):
        entries = by_object[key]
        problems = []
        if key.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(io.BytesIO(backend.get(key)))
            except ZIP_DAMAGE:
                return [(e["path"], f"stored copy in {key} is corrupt; not restored") for e in entries]
            with archive:
                for entry in entries:
                    try:
                        data = archive.read(entry["member"])
                    except ZIP_DAMAGE:
                        data = None  # a CRC failure is corruption too
                    path = target / entry["path"]
                    if data is None or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                        problems.append((entry["path"], f"stored copy in {key} is corrupt; not restored"))
                        continue
                    try:
                        with atomic_path(path, suffix="") as tmp:
                            tmp.write_bytes(data)
                            _set_meta(tmp, entry)
                    except (InputError, OSError) as exc:
                        problems.append((entry["path"], _cannot_write(exc)))
                        continue
                    bar.update(len(data))
        else:
            for entry in entries:
                path = target / entry["path"]
                try:
                    with atomic_path(path, suffix="") as tmp:
                        backend.get_file(key, tmp)
                        if sha256_file(tmp) != entry["sha256"]:
                            raise _Corrupt  # discards the temporary copy
                        _set_meta(tmp, entry)
                except _Corrupt:
                    problems.append((entry["path"], f"stored copy {key} is corrupt; not restored"))
                    continue
                except (InputError, OSError) as exc:
                    problems.append((entry["path"], _cannot_write(exc)))
                    continue
                bar.update(entry["size"])
        return problems

    corrupt = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for problems in pool.map(restore_object, sorted(by_object)):
            corrupt.extend(problems)
    failures += corrupt
    bar.close()
    _drop_stale_sqlite_logs(target, by_object, {path for path, _ in corrupt}, {e["path"] for e in chosen})
    links_failed = dirs_failed = 0
    for entry in chosen:
        if entry["type"] == "link":
            path = target / entry["path"]
            try:
                if path.is_symlink() or path.exists():
                    path.unlink()  # a file or link: _make_directories set aside a directory in the way
                os.symlink(entry["target"], path)
                os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]), follow_symlinks=False)
            except OSError as exc:
                failures.append((entry["path"], _cannot_write(exc)))
                links_failed += 1
    # Directories last and deepest first: writing into a directory changes its mtime.
    for entry in sorted((e for e in chosen if e["type"] == "dir"), key=lambda e: e["path"], reverse=True):
        path = target / entry["path"]  # a real directory by now (_make_directories)
        try:
            os.chmod(path, entry["mode"])
            os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
        except OSError as exc:
            failures.append((entry["path"], f"cannot set its mode and time ({exc.strerror or exc})"))
            dirs_failed += 1
    not_restored = {path for path, _ in corrupt}
    raw = [e["path"] for e in chosen if e.get("unreadable_sqlite") and e["path"] not in not_restored]
    for path in raw:  # the user must know these databases may not open, or hold a torn state
        log.warning("warning: %s: %s", path, RAW_SQLITE_WARNING)
    return {"files": sum(len(v) for v in by_object.values()) - len(corrupt),
            "links": sum(e["type"] == "link" for e in chosen) - links_failed,
            "dirs": sum(e["type"] == "dir" for e in chosen) - dirs_failed,
            "bytes": total, "manifest": state.manifest_key, "failures": failures, "unreadable_sqlite": raw}


def list_backups(dest, *, endpoint_url=None, retries=4):
    """The backups held at ``dest``, oldest first.

    Returns
    -------
    list of dict
        ``run_id``, ``manifest`` (key), ``started`` (when the run scanned the tree, ISO UTC),
        ``finished`` (when its manifest was written), ``files``, ``bytes`` (None for manifests
        written before byte totals were recorded), ``source`` and ``damaged`` (why a manifest
        cannot be read, its other fields None; "" for a readable one).
    """
    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries)
    backups = []
    for key in manifest_keys(backend):
        try:
            header, damaged = read_header(backend, key), ""
        except DamagedManifest as exc:  # listed all the same: the backups around it stay reachable
            header, damaged = {}, exc.reason
        backups.append({"run_id": header.get("run_id", key[len(MANIFESTS):].split(".jsonl")[0]), "manifest": key,
                        "started": run_started(key).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "finished": header.get("created"), "files": header.get("files"),
                        "bytes": header.get("bytes"), "source": header.get("source"), "damaged": damaged})
    return backups


def parse_time(value):
    """An aware UTC datetime from a datetime or ISO 8601 text; a date alone is the end of that day."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise InputError(text, "not a time (expected ISO 8601, e.g. 2026-11-24T18:00 or 2026-11-24)") from None
        if len(text) == 10:  # YYYY-MM-DD: everything backed up that day
            moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


class _Corrupt(Exception):
    """A downloaded object does not match the manifest's checksum."""


def _wanted(path, patterns):
    if not patterns:
        return True
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p.rstrip("/")
               for p in patterns)


def _drop_stale_sqlite_logs(target, by_object, not_restored, restored):
    """Remove the -wal/-journal/-shm files left in ``target`` beside a restored SQLite database.

    The backup holds each database as one consistent snapshot without its logs; a log already
    beside it in the target belongs to another version, and SQLite would apply it on the next
    open and corrupt the restored database.
    """
    for entries in by_object.values():
        for entry in entries:
            if entry["path"] in not_restored:
                continue
            path = target / entry["path"]
            stale = [Path(f"{path}{side}") for side in SQLITE_SIDE_FILES if f"{entry['path']}{side}" not in restored]
            # lexists and is_dir say False, not raise, for a name too long for the file system
            stale = [side for side in stale if os.path.lexists(side) and not side.is_dir()]
            if stale and is_sqlite(path):
                for side in stale:
                    side.unlink()


def _make_directories(target, entries):
    """Make every directory the restored ``entries`` lie in (or are) a real directory under ``target``.

    A symlink or file that the target holds where the backup has a directory is replaced, as
    files are: writing through a link would put restored files outside ``target`` and overwrite
    whatever the link points to. A directory the target holds where the backup has a file or
    link is never deleted, and a directory that cannot be made costs what lies in it: those
    entries are returned as failures ``(path, reason)``. Done once, shallowest first, before any
    file is written (the writers run in parallel).
    """
    needed = set()
    for entry in entries:
        parts = entry["path"].split("/")
        for depth in range(1, len(parts) + (entry["type"] == "dir")):
            needed.add("/".join(parts[:depth]))
    unmade = {}  # directory -> why it (or one above it) could not be made
    for relative in sorted(needed, key=lambda name: name.count("/")):
        parent = relative.rpartition("/")[0]
        if parent in unmade:
            unmade[relative] = unmade[parent]
            continue
        path = target / relative
        try:
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            path.mkdir(exist_ok=True)
        except OSError as exc:
            unmade[relative] = f"cannot make the directory {relative} ({exc.strerror or exc}); not restored"
    failures = []
    for entry in entries:
        path = target / entry["path"]
        directory = entry["path"] if entry["type"] == "dir" else entry["path"].rpartition("/")[0]
        if directory in unmade:
            failures.append((entry["path"], unmade[directory]))
        elif entry["type"] != "dir" and path.is_dir() and not path.is_symlink():
            failures.append((entry["path"], "a directory is in the way in the target; not restored "
                                            "(move it and restore again)"))
    return failures


def _remove_temporaries_of_a_killed_restore(target, files):
    """Delete the temporary files that a restore killed mid-way left beside the ``files`` now
    being restored: hidden, up to full size, and not part of the tree. Only atomic_path's
    temporary names for exactly these files are touched, never a file of the user's."""
    by_directory = defaultdict(list)
    for entry in files:
        directory, _, name = entry["path"].rpartition("/")
        by_directory[directory].append(name)
    for directory, names in by_directory.items():
        try:
            with os.scandir(target / directory) as listing:
                hidden = [item for item in listing if item.name.startswith(".") and ".part" in item.name
                          and item.is_file(follow_symlinks=False)]
        except OSError:
            continue  # unreadable: its files fail and are reported when they are written
        for item in hidden:
            if any(is_temporary_of(item.name, name, suffix="") for name in names):
                with contextlib.suppress(OSError):  # ditto
                    os.unlink(item.path)


def _cannot_write(exc):
    """The failure reason for a file or link that could not be written into the target."""
    reason = exc.reason if isinstance(exc, InputError) else f"cannot write here ({exc.strerror or exc})"
    return f"{reason}; not restored"


def _set_meta(path, entry):
    os.chmod(path, entry["mode"])
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
