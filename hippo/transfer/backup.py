"""Incremental backup of a directory tree to an object store: small files collated into
uncompressed zips built in memory, large files uploaded in parts, a manifest written last."""

import collections
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from hippo.errors import UsageError
from hippo.progress import progress
from hippo.provenance import environment_summary, sha256_file, software_versions, utc_now
from hippo.transfer.backends import SourceReadError, TransferError, open_backend
from hippo.transfer.lock import WriterLock
from hippo.transfer.manifest import (DAMAGED, DATA, MANIFESTS, SQLITE_HEADER, SQLITE_SIDE_FILES, BackupState, encode,
                                     is_sqlite, journal_key, journal_record, new_run_id, scan)
from hippo.transfer.ziparchive import MAX_BYTES, MAX_MEMBERS, build_zip

SMALL_FILE_LIMIT = 4 << 20  # bytes: smaller files go into zips
ZIP_TARGET = 8 << 20        # bytes of members per zip object (several in flight keep every worker busy)
MEMORY_CAP = 256 << 20      # bytes of zips held in memory at once

log = logging.getLogger("hippo.transfer")


_RATE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_rate(text):
    """Bytes per second from ``50M``, ``800k``, ``1G`` or a plain number."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmg]?)i?b?(/s)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise UsageError(f"--bwlimit {text!r}: expected a rate such as 50M or 800k")
    return float(match.group(1)) * _RATE_UNITS[match.group(2).lower()]


class _FileChanged(Exception):
    """A file changed while it was being read; it is reported and left for the next run."""


class _UnreadableKeepsPrevious(Exception):
    """An SQLite database that cannot be read, of which the previous backup holds a good copy (one
    not itself raw bytes): it is reported as a failure and that copy is kept, not replaced by these
    bytes (which may be damaged for good, or only unreadable for a moment)."""


def backup(src, dest, *, endpoint_url=None, workers=8, exclude=(), bwlimit=None, retries=4,
           dry_run=False, small_file_limit=SMALL_FILE_LIMIT, zip_target=ZIP_TARGET,
           memory_cap=MEMORY_CAP, checksum=False, quiet=False):
    """Back up the tree ``src`` to ``dest`` (``s3://bucket/prefix`` or a local directory).

    Only files that are new or changed since the last manifest are sent (size and mtime,
    then SHA-256 when those differ; with ``checksum``, SHA-256 always). Symlinks are recorded
    as links, never followed. Files below ``small_file_limit`` bytes are collated into
    uncompressed zips of about ``zip_target`` bytes built in memory (at most ``memory_cap``
    bytes in flight); larger files go up in multipart uploads with per-part MD5 checks. SQLite databases (by header or
    ``.db`` name) are copied from a consistent snapshot taken with SQLite's backup API, without
    creating any file in ``src``. One SQLite cannot read is a failure that keeps the previous
    backup's copy when that copy is good (a snapshot, not raw bytes); with no such copy it is sent
    as its raw bytes, with a warning.

    Every finished object is journalled on the store at once and the manifest is written
    last, so a run killed at any moment resumes without re-sending finished objects, and an
    object whose upload did not finish is never counted.

    Parameters
    ----------
    src : str or path
        Directory to back up.
    dest : str
        ``s3://bucket/prefix`` (endpoint from ``endpoint_url`` or ``AWS_ENDPOINT_URL``,
        credentials from the standard AWS variables) or a local directory.
    workers : int
        Parallel uploads.
    exclude : sequence of str
        Glob patterns matched against relative paths and base names.
    bwlimit : float or str, optional
        Upload limit in bytes per second, or as on the command line (``"50M"``, ``"800k"``).
    retries : int
        Retries of a failed request, with exponential back-off.
    dry_run : bool
        Plan and report, send nothing.
    checksum : bool
        Judge every file of unchanged size by its SHA-256, as ``rclone --checksum``: content
        rewritten with its size and mtime put back is sent, and a file whose mtime alone changed
        is not (its entry takes the new mtime). Every such file is read. SQLite databases copied
        from a snapshot are still judged by size and mtime (theirs and their WAL's).

    Returns
    -------
    dict
        ``files``, ``links``, ``dirs``, ``send_files``, ``send_bytes``, ``objects_sent``,
        ``objects_reused``, ``manifest`` (key or None), ``failures`` (list of (path, reason)),
        ``unreadable_sqlite`` (list of (path, reason): damaged databases held as their raw bytes, sent
        because no earlier backup held a good copy of them).
    """
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if isinstance(bwlimit, str):  # "50M" as on the command line
        bwlimit = parse_rate(bwlimit)
    if small_file_limit + zip_target + 1024 * MAX_MEMBERS > MAX_BYTES:
        raise UsageError("small_file_limit + zip_target must stay well below 4 GiB (zips are written without zip64)")
    started_ns = time.time_ns()  # the run is named by its start: when the tree is scanned (restore --as-of)
    src = Path(src)
    root = os.path.join(src, "")  # string paths: pathlib costs microseconds per small file
    entries, failures, unlisted = scan(src, exclude)
    # a dry run before the first backup: an empty destination, and nothing made
    backend = open_backend(dest, endpoint_url=endpoint_url, retries=retries,
                           bwlimit=bwlimit, create=not dry_run, missing_ok=dry_run)
    # One writer at a time: the lock is taken before the state is read, so no other run's
    # journals can be folded in (and removed) while this one is still writing them.
    with contextlib.nullcontext() if dry_run else WriterLock(backend):
        if not dry_run:
            backend.remove_leftovers(DATA)  # of a run killed mid-object; its finished objects stay
        state = BackupState(backend)
        for damaged_manifest in state.damaged:
            log.warning("warning: %s; this backup builds on %s", damaged_manifest,
                        state.manifest_key or "no earlier backup (every file is sent)")
        run_id = new_run_id(started_ns, after=state.latest_key)
        # The previous backup's objects are relied on only where the store still holds them as
        # recorded: files whose object was lost (a lifecycle rule, a mistaken delete) or damaged
        # (other size or ETag, or found corrupt by verify --deep) are sent again.
        existing = {o.key: o for o in backend.list(DATA)}
        damaged_markers = {info.key: json.loads(backend.get(info.key))["key"] for info in backend.list(DAMAGED)}
        damaged = set(damaged_markers.values())
        intact = {key for key, record in state.objects.items()
                  if key in existing and key not in damaged and existing[key].size == record.get("size")
                  and (not existing[key].etag or not record.get("etag") or existing[key].etag == record["etag"])}
        untrusted = damaged | (state.objects.keys() - intact)
        reused, to_send, planned_sha256 = _plan(src, entries, state, intact, checksum, workers)
        # Files whose previous copy is good and still held: if SQLite cannot read them now, that
        # copy is kept (a failure), not replaced by raw bytes that may be damaged.
        keep_good = {e["path"] for e in to_send if _good_previous(state, intact, e["path"])}
        small = [e for e in to_send if e["size"] < small_file_limit]
        large = [e for e in to_send if e["size"] >= small_file_limit]
        batches = _batches(small, zip_target)
        kinds = collections.Counter(e["type"] for e in entries)
        summary = {"files": kinds["file"], "links": kinds["link"], "dirs": kinds["dir"],
                   "send_files": len(to_send), "send_bytes": sum(e["size"] for e in to_send),
                   "zips": len(batches), "large_files": len(large), "objects_sent": 0, "objects_reused": 0,
                   "manifest": None, "failures": failures, "unreadable_sqlite": [], "dry_run": dry_run,
                   "destination": backend.url}
        if dry_run:
            return summary

        summary.update(zips=0, large_files=0)  # from here on: objects stored, not planned
        sent_entries, objects = {}, {}
        lock = threading.Lock()
        bar = progress(total=summary["send_bytes"], desc="backup", unit="B", unit_scale=True, quiet=quiet)

        def stored(key, info, object_entries, was_sent):
            # Journal first, then count: the journal entry is what makes the work survive a kill.
            record = {"size": info.size, "etag": info.etag}
            backend.put(journal_key(run_id, key), journal_record(key, record, object_entries))
            with lock:
                objects[key] = record
                summary["objects_sent" if was_sent else "objects_reused"] += 1
                summary["zips" if key.endswith(".zip") else "large_files"] += 1
                for entry in object_entries:
                    sent_entries[entry["path"]] = entry

        def build_zip_of(batch):
            """Read a batch and build its zip (in the calling thread); ``(members, blob)`` or None."""
            members, contents = [], []
            for entry in batch:
                try:
                    data, entry = _keep_good_copy(_read_small(root, entry), keep_good)
                except (OSError, _FileChanged, _UnreadableKeepsPrevious, sqlite3.DatabaseError) as exc:
                    with lock:
                        failures.append((entry["path"], _reason(exc)))
                    continue
                members.append(entry)
                contents.append((entry["path"], data, entry["mtime_ns"], entry["mode"]))
            return (members, build_zip(contents)) if members else None

        def send_zip(built):
            members, blob = built
            name = hashlib.sha256("".join(f"{e['path']}\0{e['sha256']}\n" for e in members).encode()).hexdigest()
            key = f"{DATA}zip/{name[:2]}/{name[:40]}.zip"
            for entry in members:
                entry.update(key=key, member=entry["path"])
            # Left by a killed run: trusted only if its ETag matches too. One found damaged holds these
            # very members (the name comes from their paths and checksums): writing over it
            # repairs every backup that uses it.
            already = existing.get(key)
            if (already and key not in untrusted and already.size == len(blob)
                    and already.etag in (None, hashlib.md5(blob).hexdigest())):
                stored(key, already, members, False)
            else:
                stored(key, backend.put(key, blob), members, True)
            bar.update(sum(e["size"] for e in members))

        def send_large(entry):
            try:
                with tempfile.TemporaryDirectory(prefix="hippo-backup-") as scratch:
                    send_version(entry, Path(scratch))
            except (OSError, SourceReadError, sqlite3.DatabaseError, _FileChanged, _UnreadableKeepsPrevious) as exc:
                # Reading the file failed (the store's failures are TransferErrors): that file is
                # listed and keeps its previous copy, and the rest of the run goes on.
                with lock:
                    failures.append((entry["path"], _reason(exc)))

        def send_version(entry, scratch):
            path, entry = _keep_good_copy(_stable_copy(src, entry, scratch), keep_good)
            # Named by path and version, not content, so the file is read only once (hashed as sent).
            version = f"{entry['path']}\0{entry['size']}\0{entry['mtime_ns']}\0{entry.get('snapshot', '')}"
            if "log_mtime_ns" in entry:  # a database whose WAL changed is a new version
                version += f"\0{entry['log_mtime_ns']}"
            key = f"{DATA}blob/{hashlib.sha256(version.encode()).hexdigest()[:40]}"
            already = existing.get(key)
            if already and already.size == entry["size"] and key in intact:
                # The object is this file only if its bytes are the same: one rewritten with its size
                # and mtime put back (sent by --checksum) has this name too.
                sha256 = planned_sha256.get(entry["path"]) or sha256_file(path)  # _plan's, when it read the file
                held = state.entries.get(entry["path"], {})
                if held.get("key") == key and held.get("sha256") == sha256:
                    entry.update(key=key, sha256=sha256)
                    bar.update(entry["size"])
                    stored(key, already, [entry], False)
                    return
            if already:
                # An object of this name that the latest backup does not vouch for: an older
                # backup's file of the same path, size and mtime but maybe other bytes, a damaged
                # copy, or a killed run's upload. Objects are never overwritten (older backups stay
                # restorable): this version gets a name of its own.
                key = f"{key}.{run_id}"
            info, sha256 = backend.put_file(key, path, on_bytes=bar.update)
            entry.update(key=key, sha256=sha256)
            after = os.stat(path)
            if not entry.get("snapshot") and (after.st_size, after.st_mtime_ns) != (entry["size"], entry["mtime_ns"]):
                with lock:
                    failures.append((entry["path"], _reason(_FileChanged(path))))
                return
            stored(key, info, [entry], True)

        memory_slots = threading.BoundedSemaphore(max(1, memory_cap // max(zip_target, 1)))

        def with_slot(function, item):
            try:
                return function(item)
            finally:
                memory_slots.release()

        # One thread (this one) reads the small files and builds the zips while the workers upload:
        # reading is mostly Python, and threads contending for the interpreter would only slow it.
        fatal = None
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            pending = set()
            work = [(send_large, e, None) for e in large] + [(send_zip, None, b) for b in batches]
            for function, item, batch in work:
                memory_slots.acquire()
                if fatal:
                    memory_slots.release()
                    break
                if batch is not None:
                    item = build_zip_of(batch)
                    if item is None:
                        memory_slots.release()
                        continue
                future = pool.submit(with_slot, function, item)
                pending.add(future)
                done = {f for f in pending if f.done()}
                pending -= done
                fatal = fatal or _first_error(done)
            fatal = fatal or _first_error(concurrent.futures.wait(pending).done)
        bar.close()
        if fatal:
            raise TransferError(f"{fatal} (finished work is recorded; re-run the backup to resume)") from None

        # What was sent: the files that failed this time are neither sent nor in the manifest.
        failed = {path for path, _ in failures}
        summary["send_files"] = sum(1 for e in to_send if e["path"] not in failed)
        summary["send_bytes"] = sum(e["size"] for e in to_send if e["path"] not in failed)
        final = []
        for entry in entries:
            if entry["type"] == "file":
                path = entry["path"]
                entry = sent_entries.get(path) or reused.get(path) or _previous_version(state, intact, path)
                if entry is None:
                    continue  # failed this time and never backed up: verify reports it
            final.append(entry)
        # What a directory that could not be listed held is unknown this time, not gone: the last
        # backup's entries under it stay, as a file that could not be read keeps its last copy.
        for path, previous in state.entries.items():
            if any(not directory or path.startswith(directory + "/") for directory in unlisted) and (  # "": the top
                    previous["type"] != "file" or _previous_version(state, intact, path)):
                final.append(previous)
        final.sort(key=lambda e: e["path"])
        summary["unreadable_sqlite"] = [(e["path"], e["unreadable_sqlite"]) for e in final
                                        if e.get("unreadable_sqlite")]
        for path, reason in summary["unreadable_sqlite"]:
            log.warning("warning: %s: an SQLite database that cannot be read (%s); backed up as its raw bytes",
                        path, reason)
        referenced = {e["key"] for e in final if e.get("key")}
        all_objects = {**state.objects, **objects}
        # A damaged newer manifest passed over is superseded by a new one, or it would stay "latest".
        unchanged = (state.manifest_key is not None and not objects and not state.journal_keys and not state.damaged
                     and final == sorted(state.entries.values(), key=lambda e: e["path"]))
        if not unchanged:
            header = {"format": "hippo-backup-manifest/1", "run_id": run_id, "created": utc_now(),
                      "source": str(src.resolve()), "exclude": list(exclude), "software": software_versions(),
                      "environment": environment_summary(),
                      "absorbed": sorted(state.absorbed), "files": sum(e["type"] == "file" for e in final),
                      "bytes": sum(e["size"] for e in final if e["type"] == "file"),
                      "objects": {k: all_objects[k] for k in sorted(referenced)}}
            key = f"{MANIFESTS}{run_id}.jsonl.gz"
            backend.put(key, encode(header, final))
            summary["manifest"] = key
            journals = state.journal_keys + [journal_key(run_id, k) for k in objects]
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(backend.remove, journals))  # now folded into the manifest
        else:
            summary["manifest"] = state.manifest_key
        for marker in damaged_markers:  # the latest backup no longer relies on those objects
            backend.remove(marker)
        return summary


def _previous_version(state, intact, path):
    """The last backup's entry for file ``path``, or None when it has none or its object is no
    longer ``intact`` at the destination. A file that fails this time (it changed while being
    read, or could not be read) keeps that copy in the latest backup rather than vanish from it
    (verify says it differs; the next run sends the new one)."""
    previous = state.entries.get(path)
    if previous and previous.get("type") == "file" and previous.get("key") in intact:
        return previous
    return None


def _good_previous(state, intact, path):
    """Whether the last backup holds a good copy of file ``path``: an entry whose object is still
    ``intact`` and that is not itself the raw bytes of an unreadable database."""
    previous = _previous_version(state, intact, path)
    return previous is not None and not previous.get("unreadable_sqlite")


def backups_row(source, destination, result):
    """The store's ``backups`` row for a finished backup (its run id is added by Store.insert)."""
    return {"source_dir": str(source), "destination": str(destination), "manifest": result["manifest"],
            "files": result["files"], "bytes": result["send_bytes"]}


def _plan(src, entries, state, intact, checksum=False, workers=8):
    """Split the tree's files into those the last backup already holds (in an object still
    ``intact`` at the destination) and those to send, and the SHA-256 of each file to send that was
    read to decide. A file of the same size is hashed when its mtime changed, or always with
    ``checksum``; the same SHA-256 means it is held."""
    reused, to_send, to_hash, digests_of_sent = {}, [], [], {}
    for entry in entries:
        if entry["type"] != "file":
            continue
        previous = _previous_version(state, intact, entry["path"])
        if previous:
            same_size = previous.get("live_size", previous["size"]) == entry["size"]
            same_log = previous.get("log_mtime_ns") == entry.get("log_mtime_ns")  # SQLite WAL/journal
            same_mtime = previous["mtime_ns"] == entry["mtime_ns"]
            # A snapshot's SHA-256 is not the live database's: size and mtimes are all there is.
            if same_size and same_log and same_mtime and (not checksum or previous.get("snapshot")):
                reused[entry["path"]] = {**previous, "mode": entry["mode"]}
                continue
            if same_size and not previous.get("snapshot"):
                to_hash.append((entry, previous))
                continue
        to_send.append(dict(entry))

    def digest(path):
        try:
            return sha256_file(src / path)
        except OSError:
            return None  # sent, and its read failure reported then

    # Hashing releases the interpreter: files are read in parallel (--checksum reads them all).
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        digests = pool.map(digest, [entry["path"] for entry, _ in to_hash])
        for (entry, previous), sha256 in zip(to_hash, digests):
            if sha256 == previous["sha256"]:
                reused[entry["path"]] = {**previous, "mode": entry["mode"], "mtime_ns": entry["mtime_ns"]}
            else:
                to_send.append(dict(entry))
                digests_of_sent[entry["path"]] = sha256  # a large file is not read again to learn it
    to_send.sort(key=lambda e: e["path"])  # consecutive paths share zips
    return reused, to_send, digests_of_sent


def _batches(entries, zip_target):
    """Consecutive (path-sorted) files grouped into batches of about ``zip_target`` bytes."""
    batches, current, size = [], [], 0
    for entry in entries:
        current.append(entry)
        size += entry["size"] + 100
        if size >= zip_target or len(current) == MAX_MEMBERS:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _read_small(root, entry):
    """Bytes of a small file (a SQLite snapshot for databases) and its completed manifest entry.

    ``root`` is the source directory as a string ending in a separator. The file must still
    have the size and mtime the scan saw, before and after it is read (checked with one fstat
    after the read; a file changed since the scan is read again, checked before and after).
    """
    path = root + entry["path"]
    expected = (entry["size"], entry["mtime_ns"])
    for attempt in range(2):
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            if attempt:
                before = os.fstat(descriptor)
                expected = (before.st_size, before.st_mtime_ns)
            data = os.read(descriptor, expected[0] + 1)  # one byte more: notices a file that grew
            while 0 < len(data) < expected[0]:  # a short read (rare on local disks): read on
                more = os.read(descriptor, expected[0] + 1 - len(data))
                if not more:
                    break
                data += more
            after = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        steady = (after.st_size, after.st_mtime_ns) == expected and len(data) == expected[0]
        if steady:
            break
    entry = dict(entry, size=after.st_size, mtime_ns=after.st_mtime_ns)
    if is_sqlite(path, data[:20]):  # a scratch folder for databases only: it costs milliseconds a file
        with tempfile.TemporaryDirectory(prefix="hippo-backup-") as scratch:
            sent, entry = _snapshot_if_sqlite(path, data[:20], entry, Path(scratch))
            if entry.get("snapshot"):
                data = sent.read_bytes()
    if not steady and not entry.get("snapshot"):
        raise _FileChanged(path)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    return data, entry


def _keep_good_copy(read, keep_good):
    """``read`` (what ``_read_small`` or ``_stable_copy`` returned: what to send and its entry) as
    it is, unless it is the raw bytes of a database SQLite cannot read and its path is in
    ``keep_good`` (the previous backup holds a good copy): ``_UnreadableKeepsPrevious`` then."""
    entry = read[1]
    if entry.get("unreadable_sqlite") and entry["path"] in keep_good:
        raise _UnreadableKeepsPrevious(entry["unreadable_sqlite"])
    return read


def _stable_copy(src, entry, scratch):
    """Path to upload for a large file (a snapshot for SQLite) and its manifest entry so far."""
    path = src / entry["path"]
    before = os.stat(path)
    entry = {**entry, "size": before.st_size, "mtime_ns": before.st_mtime_ns}
    return _snapshot_if_sqlite(path, None, entry, scratch)


def _snapshot_if_sqlite(path, head, entry, scratch):
    """What to send for the file at ``path`` and its manifest entry: for a SQLite database, a
    consistent snapshot (``live_size`` keeps the database's own size, so that the next run's scan
    recognises it unchanged); anything else, the file itself.

    A database SQLite cannot read (damaged, or unreadable for a moment) comes back as its own
    bytes, flagged ``unreadable_sqlite``: sent when no earlier backup holds a good copy (a raw copy
    keeps what is recoverable, where leaving it out kept nothing), a failure that keeps that copy
    otherwise (``_keep_good_copy``). One that is busy or cannot be opened now raises, and is left
    for the next run.
    """
    head = _head(path) if head is None else head
    if not is_sqlite(path, head):
        return path, entry
    try:
        snapshot = _sqlite_snapshot(path, scratch, head)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):  # locked, busy, cannot be opened: not damage
            raise
        return path, dict(entry, unreadable_sqlite=str(exc))
    if snapshot is None:
        return path, entry
    return snapshot, dict(entry, size=snapshot.stat().st_size, live_size=entry["size"], snapshot=True)


def _sqlite_snapshot(path, scratch, head=None):
    """A consistent copy of the SQLite database at ``path``, made with its backup API, or None for a
    file that holds none (empty, or a ``.db`` of something else: sent as its bytes). Nothing is
    ever created beside ``path``.

    A database some process has open (its -wal and -shm exist), or one in rollback-journal mode,
    is read with ``mode=ro`` under SQLite's locks. Otherwise (no process has it open), or when
    ``mode=ro`` cannot work (a read-only folder), ``mode=ro`` would create -wal and -shm beside it or
    fail: the file is read as it is (``immutable``), or with its left-over WAL or journal copied
    beside it into ``scratch``, and must be unchanged afterwards, as any file the backup reads.
    """
    head = _head(path) if head is None else head
    logs = {side: _size(f"{path}{side}") for side in SQLITE_SIDE_FILES}  # None: no such file
    pending = [side for side in ("-wal", "-journal") if logs[side]]  # changes not yet in the main file
    if head[:16] != SQLITE_HEADER and (head or not pending):
        return None
    copy = scratch / "snapshot.db"
    live = logs["-wal"] is not None and logs["-shm"] is not None
    if live or (head[18:19] == b"\x01" and "-journal" not in pending):
        try:
            return _backup_to(f"file:{quote(os.fspath(path))}?mode=ro", copy)
        except sqlite3.OperationalError as exc:
            code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
            if code not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
                raise
    before = _identity(path, pending)
    if pending:
        for name in ["", *pending]:
            shutil.copyfile(f"{path}{name}", scratch / f"live.db{name}")
        source = os.fspath(scratch / "live.db")  # opened read-write there: SQLite applies the log to the copy
    else:
        source = f"file:{quote(os.fspath(path))}?immutable=1"
    _backup_to(source, copy)
    if _identity(path, pending) != before:
        raise _FileChanged(path)
    return copy


def _backup_to(source, copy):
    """Copy database ``source`` (a path or a ``file:`` URI) to ``copy`` with SQLite's backup API."""
    connection = sqlite3.connect(source, uri=source.startswith("file:"), timeout=30)
    try:
        target = sqlite3.connect(copy)
        with target:
            connection.backup(target)
        target.close()
    finally:
        connection.close()
    return copy


def _head(path):
    """The first bytes of a file: SQLite's header and its journal-mode bytes."""
    with open(path, "rb") as stream:
        return stream.read(20)


def _size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _identity(path, sides):
    """What shows that a file (and its ``sides``) changed: size, mtime and inode of each (None: gone)."""
    identity = []
    for name in [path, *(f"{path}{side}" for side in sides)]:
        try:
            info = os.stat(name)
            identity.append((info.st_size, info.st_mtime_ns, info.st_ino))
        except FileNotFoundError:
            identity.append(None)
    return identity


def _reason(exc):
    if isinstance(exc, _FileChanged):
        return "changed while being read; left for the next run"
    if isinstance(exc, _UnreadableKeepsPrevious):
        return f"an SQLite database that cannot be read ({exc}); the previous backup's copy is kept"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"an SQLite database that cannot be read ({exc}); not backed up"
    if isinstance(exc, SourceReadError):
        return exc.reason
    return exc.strerror or str(exc)


def _first_error(futures):
    for future in futures:
        exc = future.exception()
        if exc is not None:
            if isinstance(exc, TransferError) or not isinstance(exc, Exception):
                return exc
            raise exc
    return None
