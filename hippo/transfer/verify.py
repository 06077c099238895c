"""Checking a backup against its source tree: quick (manifest, object sizes and ETags) or deep
(every object re-read and every file's SHA-256 recomputed)."""

import concurrent.futures
import hashlib
import io
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

from hippo.progress import progress
from hippo.provenance import sha256_file
from hippo.transfer.backends import TransferError, open_backend
from hippo.transfer.backup import _sqlite_snapshot
from hippo.transfer.manifest import DATA, ZIP_DAMAGE, BackupState, scan


def verify(src, dest, *, deep=False, endpoint_url=None, workers=8, exclude=(), retries=4, quiet=False):
    """Check that every file, link and directory under ``src`` is held by the backup at ``dest``.

    Quick mode compares the tree with the latest manifest (size and mtime; SHA-256 where those
    differ) and checks that each object is present with the recorded size and ETag. ``deep``
    also downloads every object and recomputes the SHA-256 of each file it holds.

    Returns
    -------
    dict
        ``ok`` (bool), ``checked`` (entries compared), ``objects`` (objects checked) and
        ``problems``, a list of ``(path or object key, reason)``.
    """
    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries)
    state = BackupState(backend)
    state.require_manifest()
    entries, problems = scan(src, exclude)
    src = Path(src)
    for entry in entries:
        problem = _compare(src, entry, state.entries.get(entry["path"]))
        if problem:
            problems.append((entry["path"], problem))

    by_object = defaultdict(list)
    for entry in state.entries.values():
        if entry.get("key"):
            by_object[entry["key"]].append(entry)
    present = {o.key: o for o in backend.list(DATA)}
    for key in sorted(by_object):
        recorded, found = state.objects.get(key, {}), present.get(key)
        if found is None:
            problems.append((key, f"object missing (holds {_names(by_object[key])})"))
        elif found.size != recorded.get("size"):
            problems.append((key, f"object is {found.size} bytes, manifest says {recorded.get('size')}"))
        elif found.etag and recorded.get("etag") and found.etag != recorded["etag"]:
            problems.append((key, f"object ETag {found.etag} differs from manifest {recorded['etag']}"))
    if deep:
        keys = [k for k in sorted(by_object) if k in present]
        bar = progress(total=len(keys), desc="verify --deep", unit="obj", quiet=quiet)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for found in pool.map(lambda k: _deep_check(backend, k, by_object[k]), keys):
                problems.extend(found)
                bar.update()
        bar.close()
    return {"ok": not problems, "checked": len(entries), "objects": len(by_object), "problems": problems}


def _compare(src, entry, recorded):
    if recorded is None:
        return "not in the backup"
    if recorded["type"] != entry["type"]:
        return f"is a {entry['type']}, backup holds a {recorded['type']}"
    if entry["type"] == "link":
        return None if entry["target"] == recorded["target"] else \
            f"link points to {entry['target']!r}, backup has {recorded['target']!r}"
    if entry["type"] != "file":
        return None
    if (recorded.get("live_size", recorded["size"]) == entry["size"] and recorded["mtime_ns"] == entry["mtime_ns"]
            and recorded.get("log_mtime_ns") == entry.get("log_mtime_ns")):
        return None
    path = src / entry["path"]
    if recorded.get("snapshot"):
        with tempfile.TemporaryDirectory(prefix="hippo-verify-") as scratch:
            snapshot = _sqlite_snapshot(path, Path(scratch))
            digest = sha256_file(snapshot or path)
    else:
        digest = sha256_file(path)
    return None if digest == recorded["sha256"] else "content differs from the backup (sha256)"


def _deep_check(backend, key, entries):
    """Problems found by re-reading object ``key`` and hashing every file it holds."""
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
                return problems
        with tempfile.TemporaryDirectory(prefix="hippo-verify-") as scratch:
            copy = Path(scratch) / "object"
            backend.get_file(key, copy)
            digest = sha256_file(copy)
        return [(e["path"], f"stored copy {key} is corrupt (sha256 differs)")
                for e in entries if digest != e["sha256"]]
    except ZIP_DAMAGE as exc:
        return [(key, f"object is not a readable zip ({exc}); it holds {_names(entries)}")]
    except TransferError as exc:
        return [(key, str(exc))]


def _names(entries):
    names = [e["path"] for e in entries[:3]]
    return ", ".join(names) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
