"""Rebuilding a tree from a backup: byte-identical files, symlinks as links, modes and mtimes."""

import concurrent.futures
import fnmatch
import hashlib
import io
import os
import zipfile
from collections import defaultdict
from pathlib import Path

from hippo.progress import progress
from hippo.transfer.backends import open_backend
from hippo.transfer.backup import _sha256_path
from hippo.transfer.manifest import ZIP_DAMAGE, BackupState


def restore(dest, target, *, include=(), endpoint_url=None, workers=8, retries=4, quiet=False):
    """Restore the latest backup at ``dest`` into the directory ``target``.

    Parameters
    ----------
    dest : str
        ``s3://bucket/prefix`` or a local backup directory.
    target : str or path
        Directory to rebuild the tree in (created if needed; files there are replaced).
    include : sequence of str
        Restore only paths matching one of these glob patterns, or lying under a directory
        they name (``cutouts`` restores ``cutouts/...``). Default: everything.

    Returns
    -------
    dict
        ``files``, ``links``, ``dirs``, ``bytes`` restored and ``failures`` (path, reason).
    """
    from hippo.io.atomic import atomic_path  # hippo.io is heavy: imported when a restore runs

    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries)
    state = BackupState(backend)
    state.require_manifest()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    chosen = [e for e in sorted(state.entries.values(), key=lambda e: e["path"]) if _wanted(e["path"], include)]
    by_object = defaultdict(list)
    for entry in chosen:
        if entry["type"] == "file":
            by_object[entry["key"]].append(entry)
    failures = []
    total = sum(e["size"] for e in chosen if e["type"] == "file")
    bar = progress(total=total, desc="restore", quiet=quiet, unit="B")

    def restore_object(key):
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
                    path = _place(target, entry["path"])
                    if data is None or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                        problems.append((entry["path"], f"stored copy in {key} is corrupt; not restored"))
                        continue
                    with atomic_path(path, suffix="") as tmp:
                        tmp.write_bytes(data)
                        _set_meta(tmp, entry)
                    bar.update(len(data))
        else:
            for entry in entries:
                path = _place(target, entry["path"])
                try:
                    with atomic_path(path, suffix="") as tmp:
                        backend.get_file(key, tmp)
                        if _sha256_path(tmp) != entry["sha256"]:
                            raise _Corrupt  # discards the temporary copy
                        _set_meta(tmp, entry)
                except _Corrupt:
                    problems.append((entry["path"], f"stored copy {key} is corrupt; not restored"))
                    continue
                bar.update(entry["size"])
        return problems

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for problems in pool.map(restore_object, sorted(by_object)):
            failures.extend(problems)
    bar.close()
    for entry in chosen:
        if entry["type"] == "link":
            path = _place(target, entry["path"])
            if path.is_symlink() or path.exists():
                path.unlink()
            os.symlink(entry["target"], path)
            os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]), follow_symlinks=False)
    # Directories last and deepest first: writing into a directory changes its mtime.
    for entry in sorted((e for e in chosen if e["type"] == "dir"), key=lambda e: e["path"], reverse=True):
        path = target / entry["path"]
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, entry["mode"])
        os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
    return {"files": sum(len(v) for v in by_object.values()) - len(failures),
            "links": sum(e["type"] == "link" for e in chosen), "dirs": sum(e["type"] == "dir" for e in chosen),
            "bytes": total, "failures": failures}


class _Corrupt(Exception):
    """A downloaded object does not match the manifest's checksum."""


def _wanted(path, patterns):
    if not patterns:
        return True
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") or path == p.rstrip("/")
               for p in patterns)


def _place(target, relative):
    path = target / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _set_meta(path, entry):
    os.chmod(path, entry["mode"])
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
